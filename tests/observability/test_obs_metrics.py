"""metrics: real UDP packets on 127.0.0.1, the catalogue guard, and never raising."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from adapter.observability import metrics
from adapter.observability.metrics import MetricNameError, init_metrics, shutdown_metrics
from adapter.settings import Settings


def make_settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(autouse=True)
def _reset_metrics() -> Iterator[None]:
    yield
    shutdown_metrics()


@pytest.fixture
def statsd_server() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    yield sock
    sock.close()


def receive(sock: socket.socket, count: int) -> list[str]:
    lines: list[str] = []
    while len(lines) < count:
        data, _ = sock.recvfrom(65535)
        lines.extend(data.decode("ascii").splitlines())
    return lines


def test_packets_have_prefix_names_and_types(statsd_server: socket.socket) -> None:
    port = statsd_server.getsockname()[1]
    init_metrics(make_settings(statsd_host="127.0.0.1", statsd_port=port, statsd_prefix="tx"))
    assert metrics.get_metrics().enabled

    metrics.incr(metrics.WEBHOOK_RECEIVED)
    metrics.incr(metrics.webhook_rejected("signature"))
    metrics.incr(metrics.AUDIO_SECONDS, 42)
    metrics.timing(metrics.engine_latency("openai"), 812.5)
    metrics.gauge(metrics.queue_depth("transcribe"), 17)
    metrics.gauge(metrics.state_gauge("failed"), 3)
    with metrics.timer(metrics.DELIVERY_LATENCY):
        pass
    metrics.incr("transcription.delivered")  # plain strings from the catalogue are fine

    lines = receive(statsd_server, 8)
    assert lines[0] == "tx.webhook.received:1|c"
    assert lines[1] == "tx.webhook.rejected.signature:1|c"
    assert lines[2] == "tx.audio.seconds:42|c"
    assert lines[3] == "tx.engine.openai.latency:812.500000|ms"
    assert lines[4] == "tx.queue.depth.transcribe:17|g"
    assert lines[5] == "tx.transcriptions.state.failed:3|g"
    name, value = lines[6].split(":")
    assert name == "tx.delivery.latency"
    assert value.endswith("|ms")
    assert float(value.removesuffix("|ms")) >= 0
    assert lines[7] == "tx.transcription.delivered:1|c"


def test_timer_records_when_the_block_raises(statsd_server: socket.socket) -> None:
    port = statsd_server.getsockname()[1]
    init_metrics(make_settings(statsd_host="127.0.0.1", statsd_port=port))
    with pytest.raises(ZeroDivisionError), metrics.timer(metrics.engine_latency("local")):
        _ = 1 / 0
    (line,) = receive(statsd_server, 1)
    assert line.startswith("transcriber.engine.local.latency:")
    assert line.endswith("|ms")


@pytest.mark.parametrize(
    "name",
    [
        "transcription.123.failed",
        "webhook.rejected.account_42",
        "webhook.received@0.5",
        "engine.https://api.openai.com/latency",
        "webhook.received|c\nevil",
        "webhook.rejected.nope",
        "Webhook.Received",
        "",
    ],
)
def test_cardinality_guard_rejects(name: str) -> None:
    with pytest.raises(MetricNameError):
        metrics.check_name(name)
    with pytest.raises(MetricNameError):
        metrics.incr(name)  # strict by default: the mistake surfaces in tests


def test_wrong_type_for_a_name_is_rejected() -> None:
    with pytest.raises(MetricNameError):
        metrics.incr(metrics.DELIVERY_LATENCY)
    with pytest.raises(MetricNameError):
        metrics.gauge(metrics.WEBHOOK_RECEIVED, 1)
    with pytest.raises(MetricNameError), metrics.timer("transcription.7.latency"):
        pytest.fail("the block must not run")


def test_lenient_mode_drops_and_sends_nothing(statsd_server: socket.socket) -> None:
    port = statsd_server.getsockname()[1]
    init_metrics(
        make_settings(statsd_host="127.0.0.1", statsd_port=port, env="production"),
    )
    assert not metrics.get_metrics().strict
    metrics.incr("transcription.123.failed")  # dropped, no exception
    metrics.incr(metrics.WEBHOOK_ACCEPTED)
    assert receive(statsd_server, 1) == ["transcriber.webhook.accepted:1|c"]


def test_catalogue_is_closed_and_clean() -> None:
    assert "webhook.rejected.db_unavailable" in metrics.CATALOGUE
    assert metrics.CATALOGUE["queue.depth.deliver"] == "gauge"
    assert metrics.CATALOGUE["engine.local.errors.permanent"] == "counter"
    for name in metrics.CATALOGUE:
        assert not any(ch.isdigit() for ch in name)


def test_no_host_means_no_op() -> None:
    init_metrics(make_settings())
    assert not metrics.get_metrics().enabled
    metrics.incr(metrics.WEBHOOK_RECEIVED)
    metrics.timing(metrics.DELIVERY_LATENCY, 1.0)
    metrics.gauge(metrics.queue_depth("deliver"), 0)


def test_unresolvable_host_drops_samples_then_recovers(
    statsd_server: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = init_metrics(make_settings(statsd_host="statsd.invalid", statsd_port=8125))
    metrics.incr(metrics.WEBHOOK_RECEIVED)  # dropped, no exception
    metrics.timing(metrics.DELIVERY_LATENCY, 3)

    # the name starts resolving (a sidecar came up): the next attempt connects
    resolving = live._client
    assert isinstance(resolving, metrics._ResolvingClient)
    resolving.host, resolving.port = statsd_server.getsockname()
    monkeypatch.setattr(resolving, "_next_attempt", 0.0)
    metrics.incr(metrics.WEBHOOK_ACCEPTED)
    assert receive(statsd_server, 1) == ["transcriber.webhook.accepted:1|c"]


def test_send_failure_does_not_raise() -> None:
    class Exploding:
        def incr(self, stat: str, count: int = 1, rate: float = 1) -> None:
            raise OSError("network is unreachable")

        timing = gauge = incr  # type: ignore[assignment]

        def close(self) -> None:
            raise OSError("already closed")

    client = metrics.Metrics(Exploding())  # type: ignore[arg-type]
    client.incr(metrics.WEBHOOK_RECEIVED)
    client.timing(metrics.DELIVERY_LATENCY, 5)
    client.gauge(metrics.queue_depth("deliver"), 1)
    client.close()


def test_real_client_with_closed_socket_does_not_raise(statsd_server: socket.socket) -> None:
    import statsd

    real = statsd.StatsClient(*statsd_server.getsockname())
    real.close()  # pystatsd now fails with AttributeError inside _send
    client = metrics.Metrics(real)
    client.incr(metrics.WEBHOOK_RECEIVED)
    client.gauge(metrics.queue_depth("deliver"), -1)
    with client.timer(metrics.DELIVERY_LATENCY):
        pass


def test_docs_describe_every_metric() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text()
    for name in metrics.CATALOGUE:
        if name.startswith("transcriptions.state."):
            assert "`transcriptions.state.<state>`" in doc
            assert f"`{name.rsplit('.', 1)[1]}`" in doc
        else:
            assert f"`{name}`" in doc, name
