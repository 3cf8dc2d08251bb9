"""Failure notes (``adapter.jobs.failure_note``) through the pipeline: a voice note that cannot
be transcribed gets one private note saying so, in reply to it, with its reason code and no
language; an account with failure notes off gets none; a Chatwoot outage delays the note, never
doubles it; a note whose message was lost is sent again by the recovery sweep; a retry after the
cause is fixed posts the transcript note as well, and a retried row is due for the next sweep
of any process (``transcriber retry`` beside ``transcriber up``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapter import accounts as acc
from adapter.errors import (
    AccountDisabled,
    AudioTooLarge,
    NoKey,
    NotAudio,
    OverBudget,
    Skipped,
    TooShort,
)
from adapter.helpdesk.notes import FAILURE_NOTE_HEADER, NOTE_HEADER
from adapter.jobs import transcribe as transcribe_step
from adapter.jobs.recovery import recover, retry_one
from adapter.runtime import Runtime
from adapter.standins import MESSAGES_OP
from adapter.store import FailureNote, State, Transcription
from tests.helpers import OPENAI_KEY, OpenAIStandIn, sqlite_only, stand_in_account
from tests.jobs.pipeline import EN1, Pipeline, send, telegram
from tests.jobs.test_recovery import pipeline_now
from tests.standins.chatwoot_server import ChatwootStandIn
from tests.standins.openai_server import Reply

MESSAGE_ID = 90820  # the Telegram voice note of ``telegram_voice.json``
ATTACHMENT_ID = 55123


def posted(chatwoot: ChatwootStandIn) -> list[dict[str, Any]]:
    """The bodies of the notes Chatwoot accepted, as sent (a real Chatwoot keeps only
    ``in_reply_to`` of ``content_attributes``: the request shows the rest)."""
    name = f"{MESSAGES_OP[0]} {MESSAGES_OP[1]}"
    return [r.json for r in chatwoot.requests if r.operation == name and r.status == 200]


def failure_notes(chatwoot: ChatwootStandIn) -> list[dict[str, Any]]:
    return [b for b in posted(chatwoot) if b["content"].startswith(FAILURE_NOTE_HEADER)]


def assert_one_failure_note(chatwoot: ChatwootStandIn, error: str) -> dict[str, Any]:
    [body] = failure_notes(chatwoot)
    assert body["private"] is True and body["message_type"] == "outgoing"
    assert body["content_attributes"] == {
        "in_reply_to": MESSAGE_ID,
        "transcriber": {"attachment_id": ATTACHMENT_ID, "error": error},  # no language
    }
    if "_" in error:  # the code is for automation; agents read words
        assert error not in body["content"] and error.replace("_", "\\_") not in body["content"]
    assert "Please" in body["content"] and "file\\_37.oga" in body["content"]
    [note] = chatwoot.notes(321)  # as Chatwoot stores it: in reply to the voice note
    assert note["content_attributes"]["in_reply_to"] == MESSAGE_ID
    assert chatwoot.violations == []
    return body


def test_an_invalid_key_gives_exactly_one_failure_note(pipeline: Pipeline) -> None:
    pipeline.openai.enqueue(Reply.invalid_key())
    payload = pipeline.voice_note()
    row = pipeline.transcribe(payload)
    assert (row.state, row.reason) == (State.failed, "engine_rejected")
    assert (row.failure_note, row.failure_note_attempts) == (FailureNote.posted, 1)
    assert row.failure_note_id == pipeline.chatwoot.notes(321)[0]["id"]
    body = assert_one_failure_note(pipeline.chatwoot, "engine_rejected")
    assert "could not be transcribed" in body["content"]
    assert OPENAI_KEY[:12] not in body["content"]
    pipeline.send(payload)  # the same voice note announced again: nothing more
    pipeline.finished([row.id or 0])
    assert len(failure_notes(pipeline.chatwoot)) == 1
    [failed] = pipeline.runtime.ledger.recent(state="failed")  # `transcriber list --state failed`
    assert (failed.id, failed.reason) == (row.id, "engine_rejected")


@sqlite_only
@pytest.mark.parametrize(
    "error",
    [
        NotAudio("the file has no audio stream"),
        AudioTooLarge("over the limit"),
        TooShort("shorter than the minimum"),
        NoKey("no key"),
        OverBudget("the monthly budget is spent"),
        AccountDisabled("the account is disabled"),
    ],
    ids=lambda e: str(e.reason),
)
def test_each_skip_an_agent_should_know_gets_one_note_with_its_code(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, error: Skipped
) -> None:
    def skip(*args: object) -> None:
        raise error

    monkeypatch.setattr(transcribe_step, "_plan", skip)
    row = pipeline.transcribe(pipeline.voice_note())
    assert (row.state, row.reason) == (State.skipped, error.reason)
    if error.reason == "disabled":  # the admin's choice: nothing to tell the agents
        assert row.failure_note is None
        assert posted(pipeline.chatwoot) == []
    else:
        assert row.failure_note == FailureNote.posted
        assert_one_failure_note(pipeline.chatwoot, error.reason)


def _pdf(pipeline: Pipeline) -> bytes:
    return b"%PDF-1.7\n" + b"x" * 4000


def _too_large(pipeline: Pipeline) -> bytes:
    pipeline.reconfigure(max_audio_bytes=1000)
    return EN1


def _no_key(pipeline: Pipeline) -> bytes:
    rt, no_key = pipeline.runtime, acc.parse_changes({"clear_openai_api_key": True})
    acc.update_account(rt.accounts, rt.keyring, 3, no_key)
    return EN1


@sqlite_only
@pytest.mark.parametrize(
    ("cause", "reason", "words"),
    [
        (_pdf, "not_audio", "has no sound"),
        (_too_large, "too_large", "too large to transcribe"),
        (_no_key, "no_key", "not set up"),
    ],
    ids=["not_audio", "too_large", "no_key"],
)
def test_the_skips_met_today_say_why_in_plain_words(
    pipeline: Pipeline, cause: Callable[[Pipeline], bytes], reason: str, words: str
) -> None:
    """As the pipeline meets them (``too_short`` and ``budget`` come with the account options
    that cause them: above, by their errors)."""
    row = pipeline.transcribe(pipeline.voice_note(cause(pipeline)))
    assert (row.state, row.reason) == (State.skipped, reason)
    assert words in assert_one_failure_note(pipeline.chatwoot, reason)["content"]
    assert pipeline.engine_calls() == 0


def test_an_account_with_failure_notes_off_gets_none(pipeline: Pipeline) -> None:
    rt = pipeline.runtime
    off = acc.update_account(
        rt.accounts, rt.keyring, 3, acc.parse_changes({"failure_notes": False})
    )
    assert acc.account_view(off, rt.settings)["failure_notes"] is False
    pipeline.openai.enqueue(Reply.invalid_key())
    row = pipeline.transcribe(pipeline.voice_note())
    assert (row.state, row.failure_note) == (State.failed, FailureNote.off)
    assert posted(pipeline.chatwoot) == []


def test_chatwoot_down_while_the_note_is_owed_posts_it_once_when_back(
    pipeline: Pipeline,
) -> None:
    pipeline.openai.enqueue(Reply.invalid_key())
    payload = pipeline.voice_note()
    pipeline.chatwoot.fail(503, times=3, path="/api/")
    row = pipeline.transcribe(payload)
    assert (row.failure_note, row.failure_note_attempts) == (FailureNote.posted, 4)
    assert_one_failure_note(pipeline.chatwoot, "engine_rejected")
    assert pipeline.engine_calls() == 1


@sqlite_only
def test_a_note_chatwoot_keeps_refusing_is_given_up(pipeline: Pipeline) -> None:
    pipeline.reconfigure(delivery_max_attempts=2)
    pipeline.openai.enqueue(Reply.invalid_key())
    payload = pipeline.voice_note()
    pipeline.chatwoot.fail(503, times=10, path="/api/")
    row = pipeline.transcribe(payload)
    assert (row.failure_note, row.failure_note_attempts) == (FailureNote.gave_up, 2)
    assert posted(pipeline.chatwoot) == []
    assert recover(pipeline.runtime, stuck_after=0) == []  # nothing owed any more


def test_a_retry_after_fixing_the_key_posts_the_transcript_and_no_second_failure_note(
    pipeline: Pipeline,
) -> None:
    rt = pipeline.runtime
    pipeline.openai.enqueue(Reply.invalid_key())
    row = pipeline.transcribe(pipeline.voice_note())
    assert row.failure_note == FailureNote.posted
    retry_one(rt, row.id or 0)  # the stand-in answers with a transcript from now on
    [row] = pipeline.finished([row.id or 0])
    assert row.state == State.delivered, row.error
    assert row.failure_note == FailureNote.posted  # kept: never owed a second time
    notes = [n["content"] for n in pipeline.chatwoot.notes(321)]
    assert [n.split("\n")[0].split(" · ")[0] for n in notes] == [
        FAILURE_NOTE_HEADER,
        NOTE_HEADER + " (English",
    ]
    assert pipeline.engine_calls() == 2
    assert len(failure_notes(pipeline.chatwoot)) == 1


def test_a_failure_after_a_posted_note_owes_no_second_one(pipeline: Pipeline) -> None:
    rt = pipeline.runtime
    pipeline.openai.enqueue(Reply.invalid_key(), Reply.invalid_key())
    row = pipeline.transcribe(pipeline.voice_note())
    retry_one(rt, row.id or 0)
    [row] = pipeline.finished([row.id or 0])
    assert (row.state, row.failure_note) == (State.failed, FailureNote.posted)
    assert pipeline.engine_calls() == 2
    assert len(failure_notes(pipeline.chatwoot)) == 1


def test_retry_under_up_is_sent_by_the_next_sweep_of_any_process(pipeline: Pipeline) -> None:
    """`transcriber retry` beside `transcriber up` without Redis: the command's message reaches
    no worker (its in-process broker is its own), so only the database tells `up`."""
    rt = pipeline.runtime
    pipeline.openai.enqueue(Reply.invalid_key())
    row = pipeline.transcribe(pipeline.voice_note())
    assert rt.ledger.retry(row.id or 0).state == State.queued  # and no message
    [waiting] = pipeline.finished([row.id or 0])
    assert waiting.state == State.queued
    assert recover(rt) == [row.id]  # the default stuck threshold: due at once all the same
    [row] = pipeline.finished([row.id or 0])
    assert row.state == State.delivered, row.error
    assert recover(rt, stuck_after=0) == []
    assert [n["content"].startswith(NOTE_HEADER) for n in pipeline.chatwoot.notes(321)] == [
        False,
        True,
    ]


@pytest.fixture
def owed(
    client: TestClient, runtime: Runtime, chatwoot: ChatwootStandIn, openai_server: OpenAIStandIn
) -> Transcription:
    """A voice note of account 3 whose transcription failed (an invalid key) while its failure
    note's message was lost: the row, owing its note."""
    acc.create_account(
        runtime.accounts, runtime.keyring, 3, stand_in_account(chatwoot, openai_server)
    )
    [tid] = send(client, telegram(chatwoot, EN1))
    runtime.broker.flush_all()
    openai_server.enqueue(Reply.invalid_key())
    result = transcribe_step.transcribe(runtime, tid)  # run here; what it asks for is lost
    assert result.failure_note == tid
    row = runtime.ledger.get(tid)
    assert row is not None and row.failure_note == FailureNote.pending
    return row


def test_the_recovery_sweep_sends_again_a_note_whose_message_was_lost(
    request: pytest.FixtureRequest, runtime: Runtime, owed: Transcription
) -> None:
    pipeline = pipeline_now(request)
    assert recover(runtime) == []  # too recent to count as lost
    assert recover(runtime, stuck_after=0) == [owed.id]
    [row] = pipeline.finished([owed.id or 0])
    assert row.failure_note == FailureNote.posted
    assert_one_failure_note(pipeline.chatwoot, "engine_rejected")
