"""The actors (``adapter.jobs.actors``) end to end in one process: the real receiver, real
Dramatiq worker threads, the real ``openai`` SDK against the loopback OpenAI stand-in, the
Chatwoot stand-in checking every request against Chatwoot's OpenAPI spec, and real audio from
the shared fixtures. A voice note becomes one private note, however often it is announced, and
nothing secret reaches the logs."""

from __future__ import annotations

import json
import logging

import pytest

from adapter.observability import JsonFormatter
from adapter.store import State
from tests.helpers import OPENAI_KEY, SECRET, sqlite_only
from tests.jobs.pipeline import AUDIO, Pipeline
from tests.standins.chatwoot_server import fixture_payload
from tests.standins.openai_server import Reply


def test_voice_note_becomes_a_private_note(pipeline: Pipeline) -> None:
    chatwoot = pipeline.chatwoot
    pipeline.openai.enqueue(
        Reply.verbose_json("Hola, quiero cambiar mi dirección.", language="spanish", duration=4.2)
    )
    payload = pipeline.voice_note((AUDIO / "en2.ogg").read_bytes())
    row = pipeline.transcribe(payload)
    assert row.state == State.delivered, row.error
    assert (row.language, row.attempts, row.delivery_attempts) == ("es", 1, 1)
    [request] = pipeline.openai.requests
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


def test_two_attachments_two_notes_and_duplicates_do_nothing(pipeline: Pipeline) -> None:
    chatwoot = pipeline.chatwoot
    chatwoot.add_conversation(323, channel="Channel::Email")
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
    assert payload["conversation"]["id"] == 323
    ids = pipeline.send(payload, delivery="same")
    assert pipeline.send(payload, delivery="same") == ids
    payload["event"] = "message_updated"
    assert sorted(pipeline.send(payload)) == sorted(ids)
    rows = pipeline.finished(ids)
    assert [r.state for r in rows] == [State.delivered, State.delivered]
    assert len(chatwoot.notes(323)) == 2  # and, the worker idle, nothing more can come
    assert pipeline.engine_calls() == 2
    assert chatwoot.violations == []


@sqlite_only
def test_no_secret_or_transcript_in_logs(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pipeline.openai.enqueue(Reply.verbose_json("My card number is 4111 1111 1111 1111 please help"))
    payload = pipeline.voice_note()
    url = payload["attachments"][0]["data_url"]
    pipeline.chatwoot.fail(500, times=1, path="/api/")
    pipeline.transcribe(payload)
    formatter = JsonFormatter()
    text = "\n".join(formatter.format(r) for r in caplog.records)
    for secret in (OPENAI_KEY, pipeline.chatwoot.api_token, SECRET, url, "4111 1111 1111 1111"):
        assert secret not in text
