"""The real service with a loopback Sentry DSN and a StatsD listener while faults are injected:
events and metrics arrive, and none of them carries a secret, a transcript or an audio URL."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import sentry_sdk
from dramatiq.brokers.stub import StubBroker
from dramatiq.rate_limits.backends import StubBackend
from starlette.testclient import TestClient

from adapter import accounts as acc
from adapter.engines import openai_engine
from adapter.jobs import deliver
from adapter.observability import shutdown_metrics, shutdown_sentry, unconfigure_logging
from adapter.web.app import create_app
from adapter.wiring import build_runtime
from tests.helpers import (
    OPENAI_KEY,
    SECRET,
    OpenAIStandIn,
    drain,
    make_settings,
    signed_headers,
    stand_in_account,
)
from tests.jobs.pipeline import AUDIO, send, telegram
from tests.observability.test_sentry import Ingest, ingest  # noqa: F401 - the fixture
from tests.standins.chatwoot_server import ChatwootStandIn
from tests.standins.openai_server import Reply

TRANSCRIPT = "my account password is hunter2 and my card ends in 4242"


@pytest.fixture
def statsd() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


def packets(sock: socket.socket) -> list[str]:
    """Every metric line received so far. Once the client is shut down, all it sent is here: on
    the loopback interface a datagram is in the receiver's buffer when ``sendto`` returns."""
    sock.setblocking(False)
    out: list[str] = []
    while True:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return out
        out.extend(data.decode().split("\n"))


def break_once(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """The first engine call and the first note each hit a bug that puts everything it knows
    in its message (the key and audio URL; the transcript)."""
    real = openai_engine.OpenAIEngine.transcribe
    real_note = deliver.format_note
    calls: list[str] = []

    def flaky(self: Any, path: Path, *, language: str | None = None, **kw: Any) -> Any:
        calls.append("engine")
        if calls.count("engine") == 1:
            raise RuntimeError(f"engine exploded: key={OPENAI_KEY} url={url}")
        return real(self, path, language=language, **kw)

    def flaky_note(text: str, *args: Any, **kwargs: Any) -> str:
        calls.append("note")
        if calls.count("note") == 1:
            raise RuntimeError(f"cannot format {text!r}")
        return real_note(text, *args, **kwargs)

    monkeypatch.setattr(openai_engine.OpenAIEngine, "transcribe", flaky)
    monkeypatch.setattr(deliver, "format_note", flaky_note)


def test_service_reports_faults_without_leaking(
    ingest: Ingest,  # noqa: F811 - the imported fixture
    statsd: socket.socket,
    database_url: str,
    tmp_path: Path,
    fernet_key: str,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(
        database_url,
        tmp_path,
        fernet_key,
        SENTRY_DSN=ingest.dsn,
        STATSD_HOST="127.0.0.1",
        STATSD_PORT=str(statsd.getsockname()[1]),
        TRANSCRIBER_RETRY_BASE_SECONDS="0.05",
    )
    stub = StubBroker()
    rt = build_runtime(settings, component="test", broker=(stub, StubBackend()))  # type: ignore[no-untyped-call]
    worker = dramatiq.Worker(stub, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        acc.create_account(rt.accounts, rt.keyring, 3, stand_in_account(chatwoot, openai_server))
        payload = telegram(chatwoot, (AUDIO / "en1.ogg").read_bytes())
        url = payload["attachments"][0]["data_url"]
        break_once(monkeypatch, url)
        openai_server.enqueue(Reply.verbose_json(TRANSCRIPT, language="english", duration=5.0))
        with TestClient(create_app(rt)) as client:
            assert len(send(client, payload)) == 1
            body = json.dumps(payload).encode()
            bad = client.post(
                "/webhooks/chatwoot/3",
                content=body,
                headers=signed_headers(body, secret="wrong-secret-000"),
            )
        assert bad.status_code == 401
        drain(stub, worker)
        assert len(chatwoot.notes(321)) == 1
        events = ingest.wait_for(2)
        assert len(events) >= 2, "both bugs reached Sentry"
    finally:
        worker.stop(timeout=5000)
        sentry_sdk.flush(timeout=5)
        rt.close()
        shutdown_sentry()
        shutdown_metrics()
        unconfigure_logging()

    raw = ingest.raw().decode("utf-8", "replace")
    secrets = (OPENAI_KEY, chatwoot.api_token, SECRET)
    for leaked in (*secrets, url, url.split("?")[0], "hunter2", TRANSCRIPT):
        assert leaked not in raw
    names = {p.split(":")[0] for p in packets(statsd) if p}
    for expected in (
        "transcriber.webhook.received",
        "transcriber.webhook.accepted",
        "transcriber.webhook.rejected.signature",
        "transcriber.transcription.queued",
        "transcriber.transcription.retried",
        "transcriber.transcription.delivered",
        "transcriber.engine.openai.latency",
        "transcriber.delivery.latency",
    ):
        assert expected in names, sorted(names)
    assert not any(ch.isdigit() for n in names for ch in n.replace("transcriber.", "")), names
