"""``transcriber accounts …`` and ``keys rotate``: the accounts' lifecycle, the mistakes they
refuse or flag, and no secret in any output or in the database file."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from tests.cli.helpers import (
    API_TOKEN,
    OPENAI_KEY,
    WEBHOOK_SECRET,
    Call,
    add,
    add_transcription,
    adding,
    assert_no_secret,
    one_line_failure,
    run,
)


@pytest.mark.both_databases
def test_accounts_lifecycle(
    call: Call, cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert call(["migrate"]).returncode == 0
    assert call(["migrate"]).returncode == 0  # idempotent
    added = add(cli_env, tmp_path, 7, "--openai-api-key", OPENAI_KEY)  # as a user runs it
    assert added.returncode == 0, added.stderr
    listing = call(["accounts", "list", "--json"])
    assert listing.returncode == 0
    [view] = json.loads(listing.stdout)
    assert view["account_id"] == 7
    assert view["key_source"] == "account"
    assert view["enabled"] is True
    assert call(["accounts", "disable", "7"]).returncode == 0
    upd = call(["accounts", "update", "7", "--clear-openai-api-key", "--language", "es"])
    assert upd.returncode == 0, upd.stderr
    [view] = json.loads(call(["accounts", "list", "--json"]).stdout)
    assert (view["enabled"], view["key_source"], view["language"]) == (False, "none", "es")
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    table = call(["accounts", "list"])
    assert "environment" in table.stdout
    assert call(["accounts", "enable", "7"]).returncode == 0
    assert_no_secret(added.stdout, added.stderr, listing.stdout, table.stdout, upd.stdout)


@pytest.mark.both_databases
def test_secrets_are_not_in_the_database_file(
    cli_env: dict[str, str], tmp_path: Path, database_url: str
) -> None:
    assert add(cli_env, tmp_path, 8, "--openai-api-key", OPENAI_KEY).returncode == 0
    if database_url.startswith("sqlite"):
        db_file = Path(database_url.split(":///", 1)[1])
        raw = b"".join(p.read_bytes() for p in db_file.parent.glob(db_file.name + "*"))
        for secret in (API_TOKEN, WEBHOOK_SECRET, OPENAI_KEY):
            assert secret.encode() not in raw
        assert b"chatwoot.example.test" in raw  # the file is really the database
    else:
        engine = sa.create_engine(database_url)
        with engine.connect() as conn:
            dump = json.dumps(
                [list(map(str, r)) for r in conn.execute(sa.text("SELECT * FROM accounts"))]
            )
        engine.dispose()
        assert "chatwoot.example.test" in dump
        assert_no_secret(dump)


def test_duplicate_account_fails_cleanly(call: Call) -> None:
    assert call(adding(9)).returncode == 0
    again = call(adding(9))
    assert "account 9 already exists" in one_line_failure(again)
    assert_no_secret(again.stderr, again.stdout)


def test_production_needs_keys_but_migrate_does_not(
    call: Call, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRANSCRIBER_ENV", "production")
    monkeypatch.delenv("TRANSCRIBER_ENCRYPTION_KEYS")
    line = one_line_failure(call(["accounts", "list"]))
    assert "TRANSCRIBER_ENCRYPTION_KEYS is required when TRANSCRIBER_ENV=production" in line
    assert call(["migrate"]).returncode == 0  # a deployment's migration job needs no key


def test_migrate_makes_the_development_key_once_and_the_others_need_it(
    call: Call, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dev = tmp_path / "dev"
    dev.mkdir()
    monkeypatch.setenv("TRANSCRIBER_DATABASE_URL", f"sqlite:///{dev / 'x.db'}")
    monkeypatch.delenv("TRANSCRIBER_ENCRYPTION_KEYS")
    assert "run `transcriber migrate`" in one_line_failure(call(["accounts", "list"]))
    assert list(dev.iterdir()) == []
    first = call(["migrate"])
    assert first.returncode == 0, first.stderr
    key_file = dev / "transcriber.key"
    key = key_file.read_text()
    assert "TRANSCRIBER_ENCRYPTION_KEYS is unset: generated a development key" in caplog.text
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    added = call(adding(11))
    assert added.returncode == 0, added.stderr
    assert call(["migrate"]).returncode == 0
    assert key_file.read_text() == key
    key_file.unlink()
    line = one_line_failure(call(["accounts", "list"]))
    assert f"no development key at {key_file}" in line


def test_keys_rotate_then_drop_old_key(
    call: Call, monkeypatch: pytest.MonkeyPatch, fernet_key: str
) -> None:
    assert call(adding(12, "--openai-api-key", OPENAI_KEY)).returncode == 0
    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("TRANSCRIBER_ENCRYPTION_KEYS", f"{new_key},{fernet_key}")
    rotated = call(["keys", "rotate"])
    assert rotated.returncode == 0, rotated.stderr
    monkeypatch.setenv("TRANSCRIBER_ENCRYPTION_KEYS", new_key)
    assert call(["keys", "rotate"]).returncode == 0  # decryptable with the new key alone
    monkeypatch.setenv("TRANSCRIBER_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    line = one_line_failure(call(["keys", "rotate"]))
    assert "account 12" in line and "api_token" in line


def test_invalid_encryption_key_is_a_clear_error(
    call: Call, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRANSCRIBER_ENCRYPTION_KEYS", "not-a-key")
    for command in (["accounts", "list"], ["migrate"]):  # migrate needs none, but checks one
        line = one_line_failure(call(command))
        assert "TRANSCRIBER_ENCRYPTION_KEYS is not a valid Fernet key" in line
        assert "not-a-key" not in line


def test_a_model_the_engine_cannot_have_is_refused(
    call: Call, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai = one_line_failure(call(adding(7, "--engine", "openai", "--model", "nonexistent")))
    assert "OpenAI has no transcription model 'nonexistent'" in openai
    assert "whisper-1" in openai and "gpt-4o-mini-transcribe" in openai
    local = one_line_failure(call(adding(7, "--engine", "local", "--model", "large-v3")))
    assert "the local engine has no model 'large-v3'; choose one of: base, tiny.en" in local
    assert "give --engine" in one_line_failure(call(adding(7, "--model", "whisper-2")))

    # a self-hosted endpoint takes any name, whether the account's or OPENAI_BASE_URL
    own = ["--engine", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "my-whisper"]
    assert call(adding(7, *own)).returncode == 0
    moved = call(["accounts", "update", "7", "--base-url", "https://api.openai.com/v1"])
    assert "no transcription model 'my-whisper'" in one_line_failure(moved)
    assert call(["accounts", "update", "7", "--language", "es"]).returncode == 0
    monkeypatch.setenv("OPENAI_BASE_URL", "http://speaches.internal:8000/v1")
    assert call(adding(8, "--engine", "openai", "--model", "Systran/small")).returncode == 0
    for model in ("gpt-4o-transcribe", "tiny.en"):
        assert call(["accounts", "update", "8", "--model", model]).returncode == 0
    assert "large-v3" in one_line_failure(
        call(["accounts", "update", "8", "--engine", "local", "--model", "large-v3"])
    )


def test_an_openai_account_without_any_key_is_flagged(
    call: Call, cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    added = call(adding(7, "--engine", "openai"))
    assert added.returncode == 0
    assert added.stderr.startswith("warning: account 7 uses the openai engine but has no OpenAI")
    assert "--openai-api-key" in added.stderr
    assert call(adding(8, "--engine", "local")).stderr == ""
    listing = call(["accounts", "list"])
    assert "none (!)" in listing.stdout and "(!) account 7 uses" in listing.stderr
    views = json.loads(call(["accounts", "list", "--json"]).stdout)
    assert [bool(v["warnings"]) for v in views] == [True, False]
    status = run(["status"], cli_env, tmp_path)
    assert "warning: account 7 uses the openai engine" in status.stdout
    assert "account 8 uses" not in status.stdout
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    assert "(!)" not in call(["accounts", "list"]).stdout
    assert call(["accounts", "update", "7", "--language", "es"]).stderr == ""


class Terminal(io.StringIO):
    """Standard input as a terminal where the user types ``answer``."""

    def isatty(self) -> bool:
        return True


def test_delete_asks_on_a_terminal_and_keeps_the_transcriptions(
    call: Call, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    assert call(adding(7)).returncode == 0
    kept = add_transcription(database_url, account_id=7)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert "add --yes" in one_line_failure(call(["accounts", "delete", "7"]))
    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    assert "account 7 not deleted" in one_line_failure(call(["accounts", "delete", "7"]))
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    deleted = call(["accounts", "delete", "7"])
    assert deleted.returncode == 0, deleted.stderr
    assert "Delete account 7 (https://chatwoot.example.test)" in deleted.stdout  # the question
    assert "account 7 deleted" in deleted.stdout
    assert call(["accounts", "list"]).stdout == "no accounts\n"
    [row] = json.loads(call(["list", "--json"]).stdout)
    assert row["id"] == kept
    assert "not found" in one_line_failure(call(["accounts", "delete", "7", "--yes"]))
    assert call(adding(7)).returncode == 0
    assert call(["accounts", "delete", "7", "--yes"]).returncode == 0


def test_failure_notes_are_on_unless_turned_off(call: Call) -> None:
    assert call(adding(7)).returncode == 0
    assert call(adding(8, "--failure-notes", "off")).returncode == 0
    assert call(["accounts", "update", "7", "--failure-notes", "off"]).returncode == 0
    assert call(["accounts", "update", "8", "--failure-notes", "on"]).returncode == 0
    views = json.loads(call(["accounts", "list", "--json"]).stdout)
    assert [(v["account_id"], v["failure_notes"]) for v in views] == [(7, False), (8, True)]
    header, seven, eight = call(["accounts", "list"]).stdout.splitlines()
    column = header.index("FAILURE NOTES")
    assert (seven[column:].split()[0], eight[column:].split()[0]) == ("off", "on")
