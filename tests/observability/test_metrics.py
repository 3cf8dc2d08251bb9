"""metrics: real UDP packets on 127.0.0.1, the registry and its guard, never raising, the doc.

``docs/metrics.md`` holds the registry rendered as tables; after changing the registry run
``.venv/bin/python -m tests.observability.test_metrics`` to write them again.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import statsd

from adapter.observability import metrics
from adapter.observability.metrics import (
    Metric,
    MetricKind,
    MetricNameError,
    Metrics,
    init_metrics,
    shutdown_metrics,
)
from adapter.settings import Settings
from adapter.store import State

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


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


# --- sending ------------------------------------------------------------------------------


def test_packets_have_prefix_names_and_types(statsd_server: socket.socket) -> None:
    port = statsd_server.getsockname()[1]
    live = init_metrics(
        make_settings(statsd_host="127.0.0.1", statsd_port=port, statsd_prefix="tx")
    )
    assert live.enabled

    metrics.incr(Metric.WEBHOOK_RECEIVED)
    metrics.incr(Metric.rejected("signature"))
    metrics.incr(Metric.AUDIO_SECONDS, 42)
    metrics.timing(Metric.engine_latency("openai"), 812.5)
    metrics.gauge(Metric.queue_depth("transcribe"), 17)
    metrics.gauge(Metric.for_state(State.failed), 3)
    metrics.incr("transcription.delivered")  # a plain string naming a member is looked up

    assert receive(statsd_server, 7) == [
        "tx.webhook.received:1|c",
        "tx.webhook.rejected.signature:1|c",
        "tx.audio.seconds:42|c",
        "tx.engine.openai.latency:812.500000|ms",
        "tx.queue.depth.transcribe:17|g",
        "tx.transcriptions.state.failed:3|g",
        "tx.transcription.delivered:1|c",
    ]


def test_lenient_mode_drops_and_sends_nothing(statsd_server: socket.socket) -> None:
    port = statsd_server.getsockname()[1]
    live = init_metrics(make_settings(statsd_host="127.0.0.1", statsd_port=port, env="production"))
    assert not live.strict
    metrics.incr("transcription.123.failed")  # dropped, no exception
    metrics.gauge(Metric.WEBHOOK_RECEIVED, 1)  # wrong type: dropped too
    metrics.incr(Metric.WEBHOOK_ACCEPTED)
    assert receive(statsd_server, 1) == ["transcriber.webhook.accepted:1|c"]


def test_no_host_means_no_op() -> None:
    live = init_metrics(make_settings())
    assert not live.enabled
    metrics.incr(Metric.WEBHOOK_RECEIVED)
    metrics.timing(Metric.DELIVERY_LATENCY, 1.0)
    metrics.gauge(Metric.QUEUE_DEPTH_DELIVER, 0)


def test_unresolvable_host_drops_samples_then_recovers(
    statsd_server: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = init_metrics(make_settings(statsd_host="statsd.invalid", statsd_port=8125))
    metrics.incr(Metric.WEBHOOK_RECEIVED)  # dropped, no exception
    metrics.timing(Metric.DELIVERY_LATENCY, 3)

    # the name starts resolving (a sidecar came up): the next attempt connects
    resolving = live._client
    assert isinstance(resolving, metrics._ResolvingClient)
    resolving.host, resolving.port = statsd_server.getsockname()
    monkeypatch.setattr(resolving, "_next_attempt", 0.0)
    metrics.incr(Metric.WEBHOOK_ACCEPTED)
    assert receive(statsd_server, 1) == ["transcriber.webhook.accepted:1|c"]


def test_send_failure_does_not_raise() -> None:
    class Exploding:
        def incr(self, stat: str, count: int = 1, rate: float = 1) -> None:
            raise OSError("network is unreachable")

        timing = gauge = incr  # type: ignore[assignment]

        def close(self) -> None:
            raise OSError("already closed")

    client = Metrics(Exploding())  # type: ignore[arg-type]
    client.incr(Metric.WEBHOOK_RECEIVED)
    client.timing(Metric.DELIVERY_LATENCY, 5)
    client.gauge(Metric.QUEUE_DEPTH_DELIVER, 1)
    client.close()


def test_real_client_with_closed_socket_does_not_raise(statsd_server: socket.socket) -> None:
    real = statsd.StatsClient(*statsd_server.getsockname())
    real.close()  # pystatsd now fails with AttributeError inside _send
    client = Metrics(real)
    client.incr(Metric.WEBHOOK_RECEIVED)
    client.gauge(Metric.QUEUE_DEPTH_DELIVER, -1)
    client.timing(Metric.DELIVERY_LATENCY, 2)


# --- the guard ----------------------------------------------------------------------------


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
        "WEBHOOK_RECEIVED",
        "",
    ],
)
def test_names_outside_the_registry_are_rejected(name: str) -> None:
    with pytest.raises(MetricNameError):
        metrics.check_name(name)
    with pytest.raises(MetricNameError):
        metrics.incr(name)  # strict by default: the mistake surfaces in tests


def test_wrong_type_for_a_name_is_rejected() -> None:
    with pytest.raises(MetricNameError, match="is a timer, not a counter"):
        metrics.incr(Metric.DELIVERY_LATENCY)
    with pytest.raises(MetricNameError, match="is a counter, not a gauge"):
        metrics.gauge(Metric.WEBHOOK_RECEIVED, 1)
    with pytest.raises(MetricNameError, match="is a gauge, not a timer"):
        metrics.timing(Metric.QUEUE_DEPTH_DELIVER, 1)


# --- the registry -------------------------------------------------------------------------


def test_every_member_is_a_clean_low_cardinality_name() -> None:
    for metric in Metric:
        assert re.fullmatch(r"[a-z_]+(?:\.[a-z_]+)+", metric), metric
        assert metric.name == metric.replace(".", "_").upper()
        assert isinstance(metric.kind, MetricKind)
        assert metric.description
        assert "\n" not in metric.description
        assert metrics.check_name(metric, metric.kind) is metric
        assert metrics.check_name(str(metric)) is metric


def test_look_ups_return_members() -> None:
    assert Metric.rejected("db_unavailable") is Metric.WEBHOOK_REJECTED_DB_UNAVAILABLE
    assert Metric.queue_depth("deliver") is Metric.QUEUE_DEPTH_DELIVER
    assert Metric.engine_latency("local") is Metric.ENGINE_LOCAL_LATENCY
    assert Metric.engine_errors("local", permanent=True) is Metric.ENGINE_LOCAL_ERRORS_PERMANENT
    assert Metric.engine_errors("openai", permanent=False) is Metric.ENGINE_OPENAI_ERRORS_TRANSIENT
    assert {Metric.for_state(state) for state in State} == {
        metric for metric in Metric if metric.startswith("transcriptions.state.")
    }


@pytest.mark.parametrize(
    "look_up",
    [
        lambda: Metric.rejected("nope"),
        lambda: Metric.rejected("signature.extra"),
        lambda: Metric.for_state("stuck"),
        lambda: Metric.queue_depth("default"),
        lambda: Metric.engine_latency("whisper"),
        lambda: Metric.engine_latency("openai.errors"),
        lambda: Metric.engine_errors("azure", permanent=True),
    ],
)
def test_look_ups_refuse_unknown_values(look_up: object) -> None:
    with pytest.raises(MetricNameError):
        look_up()  # type: ignore[operator]


# --- the doc ------------------------------------------------------------------------------

#: doc section per first part of a name, in the order the sections appear
SECTIONS = {
    "webhook": "Webhook receiver",
    "transcription": "Transcriptions",
    "transcriptions": "Transcriptions",
    "queue": "Transcriptions",
    "delivery": "Transcriptions",
    "engine": "Engines and audio",
    "audio": "Engines and audio",
    "helpdesk": "Helpdesk (Chatwoot) write-back",
    "reconcile": "Reconciler and backfill (lost webhooks)",
    "backfill": "Reconciler and backfill (lost webhooks)",
    "budget": "Budgets",
    "chat": "The chat model (summaries, translations)",
    "stream": "Live transcription",
}
BEGIN = "<!-- metrics:begin (written by `python -m tests.observability.test_metrics`) -->"
END = "<!-- metrics:end -->"


def render() -> str:
    """The registry as one markdown table per section."""
    sections: dict[str, list[Metric]] = {}
    for metric in Metric:
        sections.setdefault(SECTIONS[metric.split(".", 1)[0]], []).append(metric)
    parts = []
    for title, members in sections.items():
        rows = [f"| `{m}` | {m.kind} | {m.description} |" for m in members]
        parts.append("\n".join([f"## {title}", "", "| name | type | meaning |", "|---|---|---|"]))
        parts[-1] += "\n" + "\n".join(rows)
    return "\n\n".join(parts)


def generated_block(doc: str) -> str:
    start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    return doc[start:end].strip("\n")


def test_doc_tables_are_the_registry() -> None:
    doc = DOC.read_text(encoding="utf-8")
    assert generated_block(doc) == render(), "run: python -m tests.observability.test_metrics"
    rows = re.findall(r"^\| `([a-z_.]+)` \| (\w+) \|", doc, flags=re.MULTILINE)
    assert sorted(rows) == sorted((str(m), str(m.kind)) for m in Metric)


def test_doc_prose_names_only_registered_metrics() -> None:
    """Names in the alerts and the prose (``engine.*.errors.permanent`` a pattern) exist."""
    doc = DOC.read_text(encoding="utf-8")
    prose = doc.replace(generated_block(doc), "")
    roots = "|".join(SECTIONS)
    named = re.findall(rf"\b(?:{roots})(?:\.[a-z_*]+)+", prose)
    assert "delivery.latency" in named  # the pattern finds what the alerts table says
    for name in named:
        pattern = re.escape(name).replace(r"\*", r"[a-z_]+")
        assert any(re.fullmatch(pattern, metric) for metric in Metric), name


def write_doc() -> None:
    doc = DOC.read_text(encoding="utf-8")
    head, tail = doc[: doc.index(BEGIN) + len(BEGIN)], doc[doc.index(END) :]
    DOC.write_text(f"{head}\n\n{render()}\n\n{tail}", encoding="utf-8")


if __name__ == "__main__":
    write_doc()
