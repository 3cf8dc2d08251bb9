"""The engine step (``adapter.jobs.chunk``) through the worker: a transient answer retries only
the chunk (Retry-After honoured), a rejected key or spent quota fails at once, and a long
recording is cut into chunks whose retries never resend a finished one."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from adapter.helpdesk.notes import FAILURE_NOTE_HEADER
from adapter.store import State
from adapter.usage import report
from tests.audio import gen
from tests.helpers import OPENAI_KEY, sqlite_only
from tests.jobs.pipeline import Pipeline
from tests.standins.chatwoot_server import fixture_payload
from tests.standins.openai_server import Reply


@sqlite_only
@pytest.mark.parametrize(
    "reply", [Reply.rate_limited(retry_after="1"), Reply.server_error(500)], ids=["429", "500"]
)
def test_a_transient_answer_retries_only_the_chunk(pipeline: Pipeline, reply: Reply) -> None:
    pipeline.openai.enqueue(reply)
    row = pipeline.transcribe(pipeline.voice_note())
    assert row.state == State.delivered, row.error
    assert row.attempts == 1  # the download and shaping were not redone: only the chunk
    assert pipeline.engine_calls() == 2
    assert len(pipeline.chatwoot.notes(321)) == 1


@sqlite_only
@pytest.mark.parametrize(
    "reply", [Reply.invalid_key(), Reply.insufficient_quota()], ids=["key", "quota"]
)
def test_a_rejection_fails_after_one_call(pipeline: Pipeline, reply: Reply) -> None:
    pipeline.openai.enqueue(reply)
    row = pipeline.transcribe(pipeline.voice_note())
    assert (row.state, row.reason) == (State.failed, "engine_rejected")
    assert row.error and OPENAI_KEY not in row.error and OPENAI_KEY[:20] not in row.error
    assert pipeline.engine_calls() == 1
    [note] = pipeline.chatwoot.notes(321)  # no transcript: a failure note says so
    assert note["content"].startswith(FAILURE_NOTE_HEADER)


def test_long_audio_is_chunked_and_a_retry_never_resends_a_finished_chunk(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    chatwoot, openai = pipeline.chatwoot, pipeline.openai
    pipeline.reconfigure(chunk_seconds=20.0)
    # 90 s of speech-like bursts with long pauses, as an email's call recording
    layout = gen.bursts(90.0, burst=4.0, gap=2.5, lead=1.0, freq=300.0)
    recording = tmp_path / "call.mp3"
    gen.write(recording, gen.pattern(layout, 22050), "mp3")
    for index in range(8):
        openai.set_transcript(
            f"chunk-{index:03d}.ogg", f"part {index} alpha{index} omega{index}", duration=20.0
        )
    openai.enqueue(Reply.success(), Reply.server_error(500))
    chatwoot.add_conversation(321, channel="Channel::Email")
    url = chatwoot.add_blob("call.mp3", recording.read_bytes(), content_type="audio/mpeg")
    row = pipeline.transcribe(fixture_payload("telegram_voice.json", attachment_urls={55123: url}))
    assert row.state == State.delivered, row.error
    assert row.chunks_total is not None and row.chunks_total >= 3
    assert row.chunks_done == row.chunks_total
    assert row.attempts == 1  # the failed chunk was retried on its own
    # every chunk once, the failed one twice (an Ogg stream's serial number is random, so the
    # re-encoded retry differs in bytes: compare the chunk names the engine received)
    names = Counter(r.filename for r in openai.requests)
    assert len(openai.requests) == row.chunks_total + 1
    assert len(names) == row.chunks_total
    assert sorted(names.values()) == [1] * (row.chunks_total - 1) + [2]
    assert all(r.filename and r.filename.endswith(".ogg") for r in openai.requests)
    assert row.audio_seconds == pytest.approx(90.0, abs=1.0)
    assert row.billed_seconds is not None and row.billed_seconds < row.audio_seconds
    assert row.upload_bytes and row.upload_bytes < len(recording.read_bytes())
    [note] = chatwoot.notes(321)
    for index in range(row.chunks_total):
        assert f"alpha{index}" in note["content"]
    assert "parts" in note["content"]


def test_the_chunks_paid_for_stay_counted_when_a_later_one_fails(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """A long recording whose third engine call is refused ends failed; what the engine was
    paid for the chunks that finished is its ``spent_seconds``, in usage and the budget."""
    pipeline.reconfigure(chunk_seconds=20.0)
    layout = gen.bursts(90.0, burst=4.0, gap=2.5, lead=1.0, freq=300.0)
    recording = tmp_path / "call.mp3"
    gen.write(recording, gen.pattern(layout, 22050), "mp3")
    pipeline.openai.enqueue(Reply.success(), Reply.success(), Reply.invalid_key())
    pipeline.chatwoot.add_conversation(321, channel="Channel::Email")
    url = pipeline.chatwoot.add_blob("call.mp3", recording.read_bytes(), content_type="audio/mpeg")
    row = pipeline.transcribe(fixture_payload("telegram_voice.json", attachment_urls={55123: url}))
    assert row.state == State.failed and row.id is not None
    done = pipeline.runtime.ledger.done_chunks(row.id)
    assert len(done) >= 2
    assert row.spent_seconds == pytest.approx(sum(c.billed_seconds for c in done))
    assert 0 < row.spent_seconds < (row.billed_seconds or 0)
    rt = pipeline.runtime
    [cell] = report(rt.usage, rt.prices, by="account").rows
    assert cell.billed_seconds == pytest.approx(row.spent_seconds)
    assert cell.audio_seconds == 0  # no transcript was made of it
