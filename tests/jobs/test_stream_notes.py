"""A finished live stream's note (``adapter.streams.finish_stream`` → the ``deliver`` actor):
exactly one private note in the stream's conversation, in reply to nothing, with the contract's
``content_attributes.transcriber`` = ``{"source": "stream", "language", "duration"}``, also
when Chatwoot fails the first post; none without a conversation or without words. The row
counts in usage and shows in the admin API; the reconciler never takes the note for a voice
note's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapter import usage
from adapter.helpdesk.notes import STREAM_NOTE_HEADER, note_reference
from adapter.jobs.recovery import recover
from adapter.scan.sift import sift
from adapter.standins import CUSTOM_ATTRIBUTES_OP, MESSAGES_OP
from adapter.store import STREAM, State
from adapter.streams import StreamResult, finish_stream
from tests.helpers import ADMIN, sqlite_only
from tests.jobs.pipeline import Pipeline
from tests.standins.chatwoot_server import ChatwootStandIn

CONVERSATION = 321
TEXT = "Hi, my order 48213 has not arrived. Can you *check* it?"


def posted(chatwoot: ChatwootStandIn) -> list[dict[str, Any]]:
    name = f"{MESSAGES_OP[0]} {MESSAGES_OP[1]}"
    return [r.json for r in chatwoot.requests if r.operation == name and r.status == 200]


def finish(pipeline: Pipeline, **changes: Any) -> int | None:
    values: dict[str, Any] = {
        "conversation_id": CONVERSATION,
        "text": TEXT,
        "language": "en",
        "duration": 192.4,
        "billed_seconds": 192.4,
        "engine": "openai",
        "model": "whisper-1",
        "started_at": datetime.now(UTC) - timedelta(seconds=200),
    }
    values.update(changes)
    account = pipeline.runtime.accounts.get(3)
    assert account is not None
    tid = finish_stream(pipeline.runtime, account, StreamResult(**values))
    pipeline.finished([tid] if tid is not None else [])
    return tid


def test_a_stream_with_a_conversation_posts_one_note(pipeline: Pipeline) -> None:
    chatwoot = pipeline.chatwoot
    chatwoot.add_conversation(CONVERSATION, custom_attributes={"order": "48213"})
    tid = finish(pipeline)
    assert tid is not None
    [body] = posted(chatwoot)
    assert body == {
        "content": body["content"],
        "message_type": "outgoing",
        "private": True,
        "content_attributes": {
            "transcriber": {"source": "stream", "language": "en", "duration": 192.4}
        },
    }
    header, _, text = body["content"].partition("\n\n")
    assert header == f"{STREAM_NOTE_HEADER} (English · en · 3:12)"
    assert text == "Hi, my order 48213 has not arrived. Can you \\*check\\* it?"
    [note] = chatwoot.notes(CONVERSATION)
    assert note["private"] is True and "in_reply_to" not in note["content_attributes"]
    assert chatwoot.conversation(CONVERSATION)["custom_attributes"] == {
        "order": "48213",
        "transcript_language": "en",
    }
    assert chatwoot.violations == []
    row = pipeline.runtime.ledger.get(tid)
    assert row is not None
    assert (row.state, row.source, row.note_message_id) == (State.delivered, STREAM, note["id"])
    assert row.conversation_id == CONVERSATION and row.delivered_at is not None
    # delivering it again (a redelivered message) posts nothing more
    pipeline.runtime.queue.deliver(tid)
    pipeline.finished([tid])
    assert len(posted(chatwoot)) == 1


def test_chatwoot_failing_the_first_post_still_gives_exactly_one_note(
    pipeline: Pipeline,
) -> None:
    chatwoot = pipeline.chatwoot
    chatwoot.add_conversation(CONVERSATION)
    chatwoot.fail(503, times=2, path=f"/api/v1/accounts/3/conversations/{CONVERSATION}/messages")
    tid = finish(pipeline)
    assert tid is not None
    assert len(chatwoot.notes(CONVERSATION)) == 1
    row = pipeline.runtime.ledger.get(tid)
    assert row is not None and row.state == State.delivered
    assert row.delivery_attempts == 3 and row.attempts == 1


def test_an_attribute_failure_after_the_note_does_not_post_it_twice(pipeline: Pipeline) -> None:
    chatwoot = pipeline.chatwoot
    chatwoot.add_conversation(CONVERSATION)
    chatwoot.fail(
        503, times=1, path=f"/api/v1/accounts/3/conversations/{CONVERSATION}/custom_attributes"
    )
    tid = finish(pipeline)
    assert len(chatwoot.notes(CONVERSATION)) == 1
    assert chatwoot.calls(CUSTOM_ATTRIBUTES_OP) == 2
    row = pipeline.runtime.ledger.get(tid or 0)
    assert row is not None and row.state == State.delivered


@sqlite_only
def test_a_stream_whose_note_gives_up_owes_no_failure_note(pipeline: Pipeline) -> None:
    pipeline.reconfigure(delivery_max_attempts=2, retry_max_seconds=0.1)
    chatwoot = pipeline.chatwoot
    chatwoot.add_conversation(CONVERSATION)
    chatwoot.fail(503, times=10, path="/api/")
    tid = finish(pipeline)
    row = pipeline.runtime.ledger.get(tid or 0)
    assert row is not None and row.state == State.failed
    assert row.failure_note is None and row.text == TEXT  # `transcriber retry` delivers it
    assert chatwoot.notes(CONVERSATION) == []


def test_no_conversation_or_nothing_said_posts_no_note(pipeline: Pipeline) -> None:
    chatwoot = pipeline.chatwoot
    chatwoot.add_conversation(CONVERSATION)
    silent = finish(pipeline, text="  ", duration=30.0, billed_seconds=30.0)
    nowhere = finish(pipeline, conversation_id=None)
    assert posted(chatwoot) == [] and chatwoot.requests == []
    for tid in (silent, nowhere):
        row = pipeline.runtime.ledger.get(tid or 0)
        assert row is not None
        assert (row.state, row.note_message_id, row.delivered_at) == (State.delivered, None, None)
    made = usage.report(pipeline.runtime.usage, pipeline.runtime.prices, by="channel")
    [stream] = [r for r in made.rows if r.key == "stream"]
    assert (stream.transcriptions, stream.billed_seconds, stream.failed) == (2, 222.4, 0)


def test_the_stream_shows_in_the_admin_api_and_usage(pipeline: Pipeline) -> None:
    pipeline.chatwoot.add_conversation(CONVERSATION)
    tid = finish(pipeline)
    auth = {"Authorization": f"Bearer {ADMIN}"}
    answer = pipeline.client.get("/api/v1/transcriptions?source=stream", headers=auth)
    assert answer.status_code == 200, answer.text
    [view] = answer.json()["transcriptions"]
    assert view["id"] == tid and view["source"] == "stream" and view["state"] == "delivered"
    assert (view["message_id"], view["attachment_id"]) == (None, None)
    assert view["conversation_id"] == CONVERSATION and view["channel"] == "stream"
    assert view["billed_seconds"] == 192.4 and view["cost_usd"] > 0
    answer = pipeline.client.get("/api/v1/usage?account_id=3&group_by=channel", headers=auth)
    assert answer.status_code == 200, answer.text
    [row] = answer.json()["rows"]
    assert (row["key"], row["transcriptions"], row["billed_seconds"]) == ("stream", 1, 192.4)


def test_the_reconciler_takes_a_stream_note_for_no_voice_note(pipeline: Pipeline) -> None:
    """A conversation holding a stream's note and a voice note that has none: the voice note
    is still found; the stream's note is not one of ours for any audio."""
    chatwoot = pipeline.chatwoot
    chatwoot.add_conversation(CONVERSATION)
    finish(pipeline)
    [note] = chatwoot.notes(CONVERSATION)
    assert note_reference(note) is None
    assert note_reference(posted(chatwoot)[0]) is None  # as sent, with content_attributes
    url = chatwoot.add_blob("voice.ogg", b"OggS" + bytes(100), content_type="audio/ogg")
    voice = chatwoot.add_message(
        CONVERSATION,
        message_type=0,
        attachments=[{"id": 777, "file_type": "audio", "data_url": url}],
    )
    sifted = sift(chatwoot.messages(CONVERSATION), chatwoot.conversation(CONVERSATION), until=2e9)
    assert [a.attachment_id for d in sifted.audio for a in d.attachments] == [777]
    assert sifted.counts.known == 0 and sifted.noted == ()
    assert voice["id"] != note["id"]


def test_a_note_the_broker_could_not_take_is_sent_by_the_recovery_sweep(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    chatwoot = pipeline.chatwoot
    chatwoot.add_conversation(CONVERSATION)

    def broker_down(transcription_id: int, *, delay_ms: int | None = None) -> None:
        raise ConnectionError("Redis is down")

    with monkeypatch.context() as patch:
        patch.setattr(pipeline.runtime.queue, "deliver", broker_down)
        tid = finish(pipeline)  # recorded all the same
    assert tid is not None and "the recovery sweep sends it" in caplog.text
    row = pipeline.runtime.ledger.get(tid)
    assert row is not None and row.state == State.transcribed
    assert chatwoot.notes(CONVERSATION) == []
    assert recover(pipeline.runtime) == [tid]  # due at once, not after the stuck time
    pipeline.finished([tid])
    assert len(chatwoot.notes(CONVERSATION)) == 1
    assert recover(pipeline.runtime) == []
    row = pipeline.runtime.ledger.get(tid)
    assert row is not None and row.state == State.delivered
