"""The real service with a loopback Sentry DSN and a StatsD listener while faults are injected:
events and metrics arrive, and none of them carries a secret, a transcript or an audio URL."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from dramatiq.rate_limits.backends import StubBackend
from starlette.testclient import TestClient

from adapter import accounts as acc
from adapter.wiring import build_runtime
from tests.conftest import FIXTURES
from tests.observability.test_sentry import Ingest, ingest  # noqa: F401 - the fixture
from tests.service.conftest import SECRET, make_settings, signed_headers
from tests.standins.chatwoot_server import ChatwootStandIn, fixture_payload
from tests.standins.openai_server import OpenAIStandIn, Reply

OPENAI_KEY = "sk-test-" + "obs9" * 9
TRANSCRIPT = "my account password is hunter2 and my card ends in 4242"


@pytest.fixture
def statsd() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    yield sock
    sock.close()


def packets(sock: socket.socket) -> list[str]:
    out: list[str] = []
    while True:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return out
        out.extend(data.decode().split("\n"))


def test_service_reports_faults_without_leaking(
    ingest: Ingest,  # noqa: F811 - the imported fixture
    statsd: socket.socket,
    database_url: str,
    tmp_path: Path,
    fernet_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sentry_sdk

    from adapter.engines import openai_engine
    from adapter.observability import shutdown_metrics, shutdown_sentry, unconfigure_logging

    settings = make_settings(
        database_url,
        tmp_path,
        fernet_key,
        SENTRY_DSN=ingest.dsn,
        STATSD_HOST="127.0.0.1",
        STATSD_PORT=str(statsd.getsockname()[1]),
    )
    stub = StubBroker()
    with ChatwootStandIn(account_id=3) as chatwoot, OpenAIStandIn(api_key=OPENAI_KEY) as oai:
        rt = build_runtime(settings, component="test", broker=(stub, StubBackend()))  # type: ignore[no-untyped-call]
        worker = dramatiq.Worker(stub, worker_threads=1, worker_timeout=50)
        worker.start()
        try:
            acc.create_account(
                rt.accounts,
                rt.keyring,
                3,
                acc.parse_changes(
                    {
                        "chatwoot_url": chatwoot.base_url,
                        "api_token": chatwoot.api_token,
                        "webhook_secret": SECRET,
                        "openai_api_key": OPENAI_KEY,
                        "engine": "openai",
                        "model": "whisper-1",
                        "base_url": oai.base_url,
                    }
                ),
            )
            chatwoot.add_conversation(321)
            url = chatwoot.add_blob(
                "file_37.oga",
                (FIXTURES / "audio" / "en1.ogg").read_bytes(),
                content_type="audio/opus",
            )
            body = json.dumps(
                fixture_payload("telegram_voice.json", attachment_urls={55123: url})
            ).encode()

            real = openai_engine.OpenAIEngine.transcribe
            calls: list[int] = []

            def flaky(self: Any, path: Path, *, language: str | None = None, **kw: Any) -> Any:
                calls.append(1)
                if len(calls) == 1:  # a bug that puts everything it knows in the message
                    raise RuntimeError(f"engine exploded: key={OPENAI_KEY} url={url}")
                return real(self, path, language=language, **kw)

            from adapter.jobs import deliver

            real_note = deliver.format_note
            notes_made: list[int] = []

            def flaky_note(text: str, *args: Any, **kwargs: Any) -> str:
                notes_made.append(1)
                if len(notes_made) == 1:  # a delivery bug quoting the transcript
                    raise RuntimeError(f"cannot format {text!r}")
                return real_note(text, *args, **kwargs)

            monkeypatch.setattr(openai_engine.OpenAIEngine, "transcribe", flaky)
            monkeypatch.setattr(deliver, "format_note", flaky_note)
            oai.enqueue(Reply.verbose_json(TRANSCRIPT, language="english", duration=5.0))
            with TestClient(rt_app(rt)) as client:
                ok = client.post(
                    "/webhooks/chatwoot/3",
                    content=body,
                    headers=signed_headers(body, delivery=str(uuid.uuid4())),
                )
                bad = client.post(
                    "/webhooks/chatwoot/3",
                    content=body,
                    headers=signed_headers(body, secret="wrong-secret-000"),
                )
            assert (ok.status_code, bad.status_code) == (202, 401)
            assert len(ok.json()["transcriptions"]) == 1
            deadline = time.monotonic() + 60
            while not chatwoot.notes(321) and time.monotonic() < deadline:
                time.sleep(0.1)
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
        for leaked in (
            OPENAI_KEY,
            url,
            "hunter2",
            TRANSCRIPT,
            chatwoot.api_token,
            SECRET,
            url.split("?")[0],
        ):
            assert leaked not in raw
        sent = packets(statsd)
        names = {p.split(":")[0] for p in sent if p}
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


def rt_app(rt: Any) -> Any:
    from adapter.web.app import create_app

    return create_app(rt)
