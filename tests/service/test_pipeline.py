"""The pipeline end to end in one process: real receiver, real Dramatiq worker threads, the real
``openai`` SDK against a loopback OpenAI stand-in, a loopback Chatwoot stand-in that checks every
request against Chatwoot's OpenAPI spec, and real audio from the shared fixtures."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from adapter import accounts as acc
from adapter.runtime import Runtime
from adapter.store import State, Transcription
from tests.conftest import FIXTURES
from tests.service.conftest import SECRET, reconfigure, signed_headers
from tests.standins.chatwoot_server import ChatwootStandIn, fixture_payload
from tests.standins.openai_server import OpenAIStandIn, Reply

AUDIO = FIXTURES / "audio"

#: every test here runs with worker threads and an account wired to both stand-ins
pytestmark = pytest.mark.usefixtures("worker", "e2e_account")
OPENAI_KEY = "sk-test-" + "e2e" * 12
TERMINAL = {State.delivered.value, State.failed.value, State.skipped.value}


@pytest.fixture
def chatwoot() -> Iterator[ChatwootStandIn]:
    with ChatwootStandIn(account_id=3) as server:
        yield server


@pytest.fixture
def openai_server() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn(api_key=OPENAI_KEY) as server:
        yield server


@pytest.fixture
def worker(runtime: Runtime) -> Iterator[dramatiq.Worker]:
    w = dramatiq.Worker(runtime.broker, worker_threads=2, worker_timeout=50)
    w.start()
    yield w
    w.stop(timeout=5000)


@pytest.fixture
def e2e_account(runtime: Runtime, chatwoot: ChatwootStandIn, openai_server: OpenAIStandIn) -> int:
    acc.create_account(
        runtime.accounts,
        runtime.keyring,
        3,
        acc.parse_changes(
            {
                "chatwoot_url": chatwoot.base_url,
                "api_token": chatwoot.api_token,
                "webhook_secret": SECRET,
                "openai_api_key": OPENAI_KEY,
                "engine": "openai",
                "model": "whisper-1",
                "base_url": openai_server.base_url,
            }
        ),
    )
    return 3


def send(client: TestClient, payload: dict[str, Any], delivery: str | None = None) -> list[int]:
    body = json.dumps(payload).encode()
    response = client.post(
        "/webhooks/chatwoot/3",
        content=body,
        headers=signed_headers(body, delivery=delivery or str(uuid.uuid4())),
    )
    assert response.status_code == 202, response.text
    ids: list[int] = response.json()["transcriptions"]
    return ids


def wait_for(
    rt: Runtime, ids: list[int], states: set[str] = TERMINAL, timeout: float = 60
) -> list[Transcription]:
    deadline = time.monotonic() + timeout
    while True:
        with Session(rt.ledger.engine) as session:
            rows = [session.get(Transcription, i) for i in ids]
        if all(r is not None and r.state in states for r in rows):
            return [r for r in rows if r is not None]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {[(r.id, r.state, r.error) for r in rows if r]}")
        time.sleep(0.05)


def telegram(chatwoot: ChatwootStandIn, audio: bytes, name: str = "file_37.oga") -> dict[str, Any]:
    chatwoot.add_conversation(
        321, custom_attributes={"order": "48213"}, channel="Channel::Telegram"
    )
    url = chatwoot.add_blob(name, audio, content_type="audio/opus")
    return fixture_payload("telegram_voice.json", attachment_urls={55123: url})


def transcription_calls(server: OpenAIStandIn) -> int:
    return len([r for r in server.requests if r.path.endswith("/audio/transcriptions")])


def test_voice_note_becomes_a_private_note(
    client: TestClient,
    runtime: Runtime,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
) -> None:
    openai_server.enqueue(
        Reply.verbose_json("Hola, quiero cambiar mi dirección.", language="spanish", duration=4.2)
    )
    payload = telegram(chatwoot, (AUDIO / "en2.ogg").read_bytes())
    [tid] = send(client, payload)
    [row] = wait_for(runtime, [tid])
    assert row.state == State.delivered, row.error
    assert (row.language, row.attempts, row.delivery_attempts) == ("es", 1, 1)
    [request] = openai_server.requests
    assert request.filename is not None and request.filename.endswith(".ogg")  # .oga remuxed
    assert request.head.startswith(b"OggS")
    assert request.authorization == f"Bearer {OPENAI_KEY}"
    [note] = chatwoot.notes(321)
    assert note["private"] is True and note["message_type"] in ("outgoing", 1)
    assert "Hola, quiero cambiar mi dirección." in note["content"]
    assert "Spanish" in note["content"] and "es" in note["content"]
    assert note["content_attributes"]["in_reply_to"] == payload["id"]
    posted = [r for r in chatwoot.requests if r.method == "POST" and r.path.endswith("/messages")]
    assert json.loads(posted[0].body)["content_attributes"]["transcriber"] == {
        "attachment_id": 55123,
        "language": "es",
        "duration": round(row.duration_seconds or 0, 2),
    }
    assert row.duration_seconds == pytest.approx(5.4, abs=0.3)  # the audio's own length, probed
    assert chatwoot.conversation(321)["custom_attributes"] == {
        "order": "48213",
        "transcript_language": "es",
    }
    assert chatwoot.violations == []


def test_two_attachments_two_notes_and_duplicates_do_nothing(
    client: TestClient,
    runtime: Runtime,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
) -> None:
    chatwoot.add_conversation(
        fixture_payload("two_audio_attachments_email.json")["conversation"]["id"],
        channel="Channel::Email",
    )
    urls = {
        55125: chatwoot.add_blob(
            "part-1.mp3", (AUDIO / "en2.mp3").read_bytes(), content_type="audio/mpeg"
        ),
        55126: chatwoot.add_blob(
            "part-2.m4a", (AUDIO / "en3.m4a").read_bytes(), content_type="audio/mp4"
        ),
        55127: chatwoot.add_blob(
            "invoice.pdf", b"%PDF-1.4 not audio", content_type="application/pdf"
        ),
    }
    payload = fixture_payload("two_audio_attachments_email.json", attachment_urls=urls)
    ids = send(client, payload, delivery="same")
    assert send(client, payload, delivery="same") == ids
    payload["event"] = "message_updated"
    assert sorted(send(client, payload)) == sorted(ids)
    rows = wait_for(runtime, ids)
    assert [r.state for r in rows] == [State.delivered, State.delivered]
    time.sleep(0.3)  # nothing else may arrive
    assert len(chatwoot.notes(323)) == 2
    assert transcription_calls(openai_server) == 2
    assert chatwoot.violations == []


def test_429_with_retry_after_then_success(
    client: TestClient,
    runtime: Runtime,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
) -> None:
    openai_server.enqueue(Reply.rate_limited(retry_after="1"))
    [tid] = send(client, telegram(chatwoot, (AUDIO / "en1.ogg").read_bytes()))
    [row] = wait_for(runtime, [tid])
    assert row.state == State.delivered, row.error
    assert row.attempts == 1  # the download and shaping were not redone: only the chunk
    assert transcription_calls(openai_server) == 2
    assert len(chatwoot.notes(321)) == 1


def test_500_then_success(
    client: TestClient,
    runtime: Runtime,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
) -> None:
    openai_server.enqueue(Reply.server_error(500))
    [tid] = send(client, telegram(chatwoot, (AUDIO / "en1.ogg").read_bytes()))
    [row] = wait_for(runtime, [tid], timeout=90)
    assert row.state == State.delivered, row.error
    assert (row.attempts, transcription_calls(openai_server)) == (1, 2)


def test_rejected_key_fails_after_one_call(
    client: TestClient,
    runtime: Runtime,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
) -> None:
    openai_server.enqueue(Reply.invalid_key())
    [tid] = send(client, telegram(chatwoot, (AUDIO / "en1.ogg").read_bytes()))
    [row] = wait_for(runtime, [tid])
    assert row.state == State.failed
    assert row.error and OPENAI_KEY not in row.error and OPENAI_KEY[:20] not in row.error
    time.sleep(0.5)
    assert transcription_calls(openai_server) == 1
    assert chatwoot.notes(321) == []


def test_insufficient_quota_fails_at_once(
    client: TestClient,
    runtime: Runtime,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
) -> None:
    openai_server.enqueue(Reply.insufficient_quota())
    [tid] = send(client, telegram(chatwoot, (AUDIO / "en1.ogg").read_bytes()))
    [row] = wait_for(runtime, [tid])
    assert (row.state, row.reason) == (State.failed, "engine_rejected")
    assert transcription_calls(openai_server) == 1


def test_chatwoot_down_during_delivery_retries_only_delivery(
    client: TestClient,
    runtime: Runtime,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
) -> None:
    payload = telegram(chatwoot, (AUDIO / "en1.ogg").read_bytes())
    chatwoot.fail(503, times=2, path="/api/")
    [tid] = send(client, payload)
    [row] = wait_for(runtime, [tid], timeout=90)
    assert row.state == State.delivered, row.error
    assert row.delivery_attempts == 3
    assert row.attempts == 1
    assert transcription_calls(openai_server) == 1
    assert len(chatwoot.notes(321)) == 1


def test_chatwoot_token_rejected_fails_delivery(
    client: TestClient,
    runtime: Runtime,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
) -> None:
    payload = telegram(chatwoot, (AUDIO / "en1.ogg").read_bytes())
    acc.update_account(
        runtime.accounts, runtime.keyring, 3, acc.parse_changes({"api_token": "wrong-token-123456"})
    )
    [tid] = send(client, payload)
    [row] = wait_for(runtime, [tid])
    assert row.state == State.failed
    assert row.text  # the paid transcript is kept: `transcriber retry` only re-delivers
    assert "wrong-token-123456" not in (row.error or "")
    acc.update_account(
        runtime.accounts, runtime.keyring, 3, acc.parse_changes({"api_token": chatwoot.api_token})
    )
    from adapter.jobs.recovery import retry_one

    retry_one(runtime, tid)
    [row] = wait_for(runtime, [tid])
    assert row.state == State.delivered
    assert transcription_calls(openai_server) == 1


@pytest.mark.parametrize(
    ("data", "state"),
    [
        (b"", State.failed),
        (b"OggS" + b"\x00" * 200, State.failed),
        (b"%PDF-1.7\n" + b"x" * 4000, State.skipped),
    ],
)
def test_corrupt_or_non_audio(
    client: TestClient,
    runtime: Runtime,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
    data: bytes,
    state: State,
) -> None:
    [tid] = send(client, telegram(chatwoot, data))
    [row] = wait_for(runtime, [tid])
    assert row.state == state, (row.state, row.error)
    assert row.error
    assert row.attempts == 1
    assert transcription_calls(openai_server) == 0


def test_too_large_is_skipped(
    client: TestClient,
    runtime: Runtime,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
) -> None:
    runtime = reconfigure(runtime, client, max_audio_bytes=1000)
    [tid] = send(client, telegram(chatwoot, (AUDIO / "en1.ogg").read_bytes()))
    [row] = wait_for(runtime, [tid])
    assert (row.state, row.reason) == (State.skipped, "too_large")


def test_no_key_is_skipped(
    client: TestClient,
    runtime: Runtime,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
) -> None:
    acc.update_account(
        runtime.accounts, runtime.keyring, 3, acc.parse_changes({"clear_openai_api_key": True})
    )
    [tid] = send(client, telegram(chatwoot, (AUDIO / "en1.ogg").read_bytes()))
    [row] = wait_for(runtime, [tid])
    assert (row.state, row.reason) == (State.skipped, "no_key")


def test_upload_race_404_then_blob(
    client: TestClient,
    runtime: Runtime,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
) -> None:
    payload = telegram(chatwoot, (AUDIO / "en1.ogg").read_bytes())
    chatwoot.fail(404, times=2, path="/rails/")
    [tid] = send(client, payload)
    [row] = wait_for(runtime, [tid])
    assert row.state == State.delivered, row.error


def test_no_temporary_files_left(
    client: TestClient,
    runtime: Runtime,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
) -> None:
    openai_server.enqueue(Reply.invalid_key())
    ids = [send(client, telegram(chatwoot, (AUDIO / "en1.ogg").read_bytes()))[0]]
    wait_for(runtime, ids)
    jobs = runtime.settings.temp_dir / "jobs"
    assert not jobs.exists() or list(jobs.iterdir()) == []


def test_no_secret_or_transcript_in_logs(
    client: TestClient,
    runtime: Runtime,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    from adapter.observability import JsonFormatter

    caplog.set_level(logging.DEBUG)
    openai_server.enqueue(Reply.verbose_json("My card number is 4111 1111 1111 1111 please help"))
    payload = telegram(chatwoot, (AUDIO / "en1.ogg").read_bytes())
    url = payload["attachments"][0]["data_url"]
    chatwoot.fail(500, times=1, path="/api/")
    [tid] = send(client, payload)
    wait_for(runtime, [tid], timeout=60)
    formatter = JsonFormatter()
    text = "\n".join(formatter.format(r) for r in caplog.records)
    for secret in (OPENAI_KEY, chatwoot.api_token, SECRET, url, "4111 1111 1111 1111"):
        assert secret not in text


def test_long_audio_is_chunked_and_a_retry_never_resends_a_finished_chunk(
    client: TestClient,
    runtime: Runtime,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
    tmp_path: Path,
) -> None:
    from tests.audio import gen

    runtime = reconfigure(runtime, client, chunk_seconds=20.0)
    # 90 s of speech-like bursts with long pauses, as an email's call recording
    layout = gen.bursts(90.0, burst=4.0, gap=2.5, lead=1.0, freq=300.0)
    recording = tmp_path / "call.mp3"
    gen.write(recording, gen.pattern(layout, 22050), "mp3")
    for index in range(8):
        openai_server.set_transcript(
            f"chunk-{index:03d}.ogg", f"part {index} alpha{index} omega{index}", duration=20.0
        )
    openai_server.enqueue(Reply.success(), Reply.server_error(500))
    chatwoot.add_conversation(321, channel="Channel::Email")
    url = chatwoot.add_blob("call.mp3", recording.read_bytes(), content_type="audio/mpeg")
    [tid] = send(client, fixture_payload("telegram_voice.json", attachment_urls={55123: url}))
    [row] = wait_for(runtime, [tid], timeout=120)
    assert row.state == State.delivered, row.error
    assert row.chunks_total is not None and row.chunks_total >= 3
    assert row.chunks_done == row.chunks_total
    assert row.attempts == 1  # the failed chunk was retried on its own
    # every chunk once, the failed one twice (an Ogg stream's serial number is random, so the
    # re-encoded retry differs in bytes: compare the chunk names the engine received)
    from collections import Counter

    names = Counter(r.filename for r in openai_server.requests)
    assert len(openai_server.requests) == row.chunks_total + 1
    assert len(names) == row.chunks_total
    assert sorted(names.values()) == [1] * (row.chunks_total - 1) + [2]
    assert all(r.filename and r.filename.endswith(".ogg") for r in openai_server.requests)
    assert row.audio_seconds == pytest.approx(90.0, abs=1.0)
    assert row.billed_seconds is not None and row.billed_seconds < row.audio_seconds
    assert row.upload_bytes and row.upload_bytes < len(recording.read_bytes())
    [note] = chatwoot.notes(321)
    for index in range(row.chunks_total):
        assert f"alpha{index}" in note["content"]
    assert "parts" in note["content"]
