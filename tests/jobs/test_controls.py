"""An account's controls through the pipeline: ``--inboxes``, ``--min-seconds``, on-demand
mode (the label ``transcribe`` read through Chatwoot's API with the user token) and a language
hint per inbox, as CONTRACT.md says. The Telegram voice note of ``telegram_voice.json`` comes
from inbox 14, conversation 321."""

from __future__ import annotations

import json
import uuid
from typing import Any

from adapter import accounts as acc
from adapter.helpdesk.notes import FAILURE_NOTE_HEADER
from adapter.store import State
from tests.helpers import signed_headers, transcriptions
from tests.jobs.pipeline import EN1, Pipeline, transcription_calls

INBOX = 14


def configure(pipeline: Pipeline, **changes: Any) -> None:
    rt = pipeline.runtime
    acc.update_account(rt.accounts, rt.keyring, 3, acc.parse_changes(changes))


def post(pipeline: Pipeline, payload: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    response = pipeline.client.post(
        "/webhooks/chatwoot/3",
        content=body,
        headers=signed_headers(body, delivery=str(uuid.uuid4())),
    )
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


def labelled_now(conversation_id: int = 321) -> dict[str, Any]:
    """The ``conversation_updated`` webhook of an agent adding the label ``transcribe``."""
    return {
        "event": "conversation_updated",
        "id": conversation_id,
        "inbox_id": INBOX,
        "channel": "Channel::Telegram",
        "labels": ["transcribe"],
        "account": {"id": 3, "name": "Acme"},
        "changed_attributes": [
            {"label_list": {"previous_value": [], "current_value": ["transcribe"]}}
        ],
    }


def test_audio_from_another_inbox_is_ignored(pipeline: Pipeline) -> None:
    configure(pipeline, inboxes=[5, 6])
    answer = post(pipeline, pipeline.voice_note())
    assert answer == {"status": "ignored", "transcriptions": []}
    assert transcriptions(pipeline.runtime) == []
    configure(pipeline, inboxes=[INBOX])
    [row] = pipeline.finished(post(pipeline, pipeline.voice_note())["transcriptions"])
    assert row.state == State.delivered


def test_audio_shorter_than_the_minimum_is_skipped_before_the_engine(pipeline: Pipeline) -> None:
    configure(pipeline, min_seconds=30)  # en1.ogg lasts about 8 s
    [row] = pipeline.finished(post(pipeline, pipeline.voice_note())["transcriptions"])
    assert (row.state, row.reason) == (State.skipped, "too_short")
    assert "under the account's minimum of 30 s" in (row.error or "")
    assert transcription_calls(pipeline.openai) == 0
    [note] = pipeline.chatwoot.notes(321)  # the agents are told: they listen themselves
    assert note["content"].startswith(FAILURE_NOTE_HEADER)


def test_on_demand_waits_for_the_label_then_reads_the_conversation(pipeline: Pipeline) -> None:
    chatwoot = pipeline.chatwoot
    configure(pipeline, mode="on_demand", user_token=chatwoot.user_token)
    webhook = pipeline.voice_note()
    assert post(pipeline, webhook)["status"] == "ignored"
    # what Chatwoot holds: the voice note, and an older one of the same conversation
    url = chatwoot.add_blob("voice.oga", EN1, content_type="audio/opus")
    for _ in range(2):
        chatwoot.add_message(321, attachments=[{"file_type": "audio", "data_url": url}])
    assert transcriptions(pipeline.runtime) == []
    answer = post(pipeline, labelled_now())
    assert answer == {"status": "accepted", "transcriptions": []}
    pipeline.finished([])  # the worker reads the conversation, transcribes, delivers
    rows = transcriptions(pipeline.runtime)
    assert len(rows) == 2
    assert {(r.source, r.state) for r in rows} == {("on_demand", State.delivered)}
    assert len(chatwoot.notes(321)) == 2
    # the same label again (a resend, or another update): nothing twice
    post(pipeline, labelled_now())
    pipeline.finished([])
    assert len(transcriptions(pipeline.runtime)) == 2
    assert transcription_calls(pipeline.openai) == 2


def test_on_demand_transcribes_new_audio_of_a_labelled_conversation(pipeline: Pipeline) -> None:
    configure(pipeline, mode="on-demand")
    webhook = pipeline.voice_note()
    webhook["conversation"]["labels"] = ["vip", "transcribe"]
    [row] = pipeline.finished(post(pipeline, webhook)["transcriptions"])
    assert row.state == State.delivered


def test_a_label_without_a_user_token_is_said_and_changes_nothing(
    pipeline: Pipeline, caplog: Any
) -> None:
    configure(pipeline, mode="on_demand")
    pipeline.voice_note()
    assert post(pipeline, labelled_now())["status"] == "accepted"
    pipeline.finished([])
    assert transcriptions(pipeline.runtime) == []
    assert "no user token to read its messages" in caplog.text


def test_an_inbox_language_is_the_engines_hint(pipeline: Pipeline) -> None:
    configure(pipeline, language="en", inbox_languages={INBOX: "es", 99: "fr"})
    [row] = pipeline.finished(post(pipeline, pipeline.voice_note())["transcriptions"])
    assert row.state == State.delivered
    assert [r.language for r in pipeline.openai.requests] == ["es"]
    configure(pipeline, inbox_languages={INBOX: None})  # removed: the account's again
    webhook = pipeline.voice_note()
    webhook["id"] += 1
    for attachment in webhook["attachments"]:
        attachment["id"] += 1
    pipeline.finished(post(pipeline, webhook)["transcriptions"])
    assert [r.language for r in pipeline.openai.requests] == ["es", "en"]
