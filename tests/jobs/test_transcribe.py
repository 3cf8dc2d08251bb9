"""The first step (``adapter.jobs.transcribe``) through the worker: download (Chatwoot's upload
race), shaping (not audio, corrupt, too large), what ends a transcription before any engine
call (no key), and no temporary file left behind."""

from __future__ import annotations

import pytest

from adapter import accounts as acc
from adapter.store import State
from tests.helpers import sqlite_only
from tests.jobs.pipeline import Pipeline
from tests.standins.openai_server import Reply

pytestmark = sqlite_only  # the steps' logic; the ledger's statements are tests/store's


@pytest.mark.parametrize(
    ("data", "state"),
    [
        (b"", State.failed),
        (b"OggS" + b"\x00" * 200, State.failed),
        (b"%PDF-1.7\n" + b"x" * 4000, State.skipped),
    ],
)
def test_corrupt_or_non_audio(pipeline: Pipeline, data: bytes, state: State) -> None:
    row = pipeline.transcribe(pipeline.voice_note(data))
    assert row.state == state, (row.state, row.error)
    assert row.error
    assert row.attempts == 1
    assert pipeline.engine_calls() == 0


def test_too_large_is_skipped(pipeline: Pipeline) -> None:
    pipeline.reconfigure(max_audio_bytes=1000)
    row = pipeline.transcribe(pipeline.voice_note())
    assert (row.state, row.reason) == (State.skipped, "too_large")


def test_no_key_is_skipped(pipeline: Pipeline) -> None:
    rt, no_key = pipeline.runtime, acc.parse_changes({"clear_openai_api_key": True})
    acc.update_account(rt.accounts, rt.keyring, 3, no_key)
    row = pipeline.transcribe(pipeline.voice_note())
    assert (row.state, row.reason) == (State.skipped, "no_key")


def test_upload_race_404_then_blob(pipeline: Pipeline) -> None:
    payload = pipeline.voice_note()
    pipeline.chatwoot.fail(404, times=2, path="/rails/")
    row = pipeline.transcribe(payload)
    assert row.state == State.delivered, row.error


def test_no_temporary_files_left(pipeline: Pipeline) -> None:
    pipeline.openai.enqueue(Reply.invalid_key())
    pipeline.transcribe(pipeline.voice_note())
    jobs = pipeline.runtime.settings.temp_dir / "jobs"
    assert not jobs.exists() or list(jobs.iterdir()) == []
