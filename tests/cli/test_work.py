"""``transcriber transcribe``, ``status``, ``list``, ``retry`` and ``demo``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapter.cli.parser import STATES
from adapter.cli.work import age
from adapter.store import State
from tests.cli.helpers import Call, add_transcription, run
from tests.fixtures import FIXTURES


def test_status_and_retry(cli_env: dict[str, str], tmp_path: Path) -> None:
    status = run(["status", "--json"], cli_env, tmp_path)
    assert status.returncode == 0, status.stderr
    data: dict[str, Any] = json.loads(status.stdout)
    assert data["states"]["queued"] == 0
    retry = run(["retry"], cli_env, tmp_path)
    assert retry.returncode == 0
    assert "re-queued 0" in retry.stdout
    assert "within TRANSCRIBER_RECOVERY_INTERVAL_SECONDS (10 s)" in retry.stderr


def test_list_shows_what_failed_and_why(call: Call, database_url: str) -> None:
    error = "the engine refused the key (401): check the account's --openai-api-key " * 3
    failed = add_transcription(
        database_url, state="failed", reason="engine_rejected", error=error, conversation_id=41
    )
    add_transcription(database_url, state="delivered", attachment_id=4, text="private words")
    other = add_transcription(database_url, account_id=8, state="skipped", reason="no_key")
    table = call(["list"])
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["ID", "ACCOUNT", "CONV", "STATE", "REASON", "AGE", "ERROR"]
    assert [int(r.split()[0]) for r in rows] == [other, failed + 1, failed]  # newest first
    assert "private words" not in table.stdout  # never a transcript
    [line] = call(["list", "--state", "failed"]).stdout.splitlines()[1:]
    assert line.split()[:5] == [str(failed), "7", "41", "failed", "engine_rejected"]
    assert "the engine refused the key (401)" in line and line.endswith("…")
    [item] = json.loads(call(["list", "--json", "--account-id", "7", "--limit", "1"]).stdout)
    assert item["state"] == "delivered" and "text" not in item
    assert set(item) >= {"id", "account_id", "conversation_id", "state", "reason", "error"}
    assert 0 <= item["age_seconds"] < 600
    assert call(["list", "--account-id", "9"]).stdout == "no transcriptions\n"


def test_list_takes_every_state_and_says_ages_shortly() -> None:
    assert tuple(state.value for state in State) == STATES
    assert [age(s) for s in (0, 59, 60, 7200, 86400 * 3 + 5)] == ["0s", "59s", "1m", "2h", "3d"]


def in_progress(database_url: str) -> int:
    """A transcription 2 chunks of 5 in, 120 s of its 300 s of audio transcribed: 40%."""
    return add_transcription(
        database_url,
        state=State.transcribing.value,
        attempts=1,
        chunks_total=5,
        chunks_done=2,
        audio_seconds=300.0,
        seconds_done=120.0,
    )


def test_status_shows_the_percent_done(
    cli_env: dict[str, str], tmp_path: Path, database_url: str
) -> None:
    row_id = in_progress(database_url)
    data: dict[str, Any] = json.loads(run(["status", "--json"], cli_env, tmp_path).stdout)
    assert data["states"]["transcribing"] == 1
    [item] = data["in_progress"]
    assert (item["id"], item["percent"]) == (row_id, 40.0)
    assert item["progress"]["chunks_done"] == 2
    text = run(["status"], cli_env, tmp_path)
    assert text.returncode == 0, text.stderr
    assert f"transcription {row_id}: 40% done (chunks 2/5, 120/300 s of audio)" in text.stdout
    assert "queue depth   n/a" in text.stdout


@pytest.mark.local_engine
@pytest.mark.slow
def test_transcribe_command_with_the_local_engine(cli_env: dict[str, str], tmp_path: Path) -> None:
    # a Telegram-style name the engine would refuse as is
    voice = tmp_path / "file_37.oga"
    voice.write_bytes((FIXTURES / "audio" / "en2.ogg").read_bytes())
    out = run(
        ["transcribe", str(voice), "--engine", "local", "--json"], cli_env, tmp_path, timeout=300
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["language"] == "en"
    assert "delivery address" in result["text"].lower()
    assert result["duration"] == pytest.approx(5.4, abs=0.3)


@pytest.mark.parametrize("content", [b"", b"%PDF-1.4\n" + b"x" * 500, b"OggS" + b"\x00" * 300])
def test_transcribe_command_rejects_bad_audio(
    cli_env: dict[str, str], tmp_path: Path, content: bytes
) -> None:
    bad = tmp_path / "bad.ogg"
    bad.write_bytes(content)
    out = run(["transcribe", str(bad), "--engine", "local"], cli_env, tmp_path)
    assert out.returncode == 1
    assert out.stderr.startswith("transcriber: ") and "Traceback" not in out.stderr


@pytest.mark.local_engine
@pytest.mark.slow
def test_demo_prints_the_note(cli_env: dict[str, str], tmp_path: Path) -> None:
    out = run(["demo"], cli_env, tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr + out.stdout
    assert "Please call me back when you can" in out.stdout
    assert '"transcript_language": "en"' in out.stdout
    assert '"in_reply_to": 1001' in out.stdout
