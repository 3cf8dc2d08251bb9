"""``transcriber accounts …`` and ``keys rotate``: the accounts' lifecycle, and no secret in any
output or in the database file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from tests.cli.helpers import API_TOKEN, OPENAI_KEY, WEBHOOK_SECRET, add, assert_no_secret, run


@pytest.mark.both_databases
def test_accounts_lifecycle(cli_env: dict[str, str], tmp_path: Path, database_url: str) -> None:
    assert run(["migrate"], cli_env, tmp_path).returncode == 0
    assert run(["migrate"], cli_env, tmp_path).returncode == 0  # idempotent
    added = add(cli_env, tmp_path, 7, "--openai-api-key", OPENAI_KEY)
    assert added.returncode == 0, added.stderr
    listing = run(["accounts", "list", "--json"], cli_env, tmp_path)
    assert listing.returncode == 0
    [view] = json.loads(listing.stdout)
    assert view["account_id"] == 7
    assert view["key_source"] == "account"
    assert view["enabled"] is True
    assert run(["accounts", "disable", "7"], cli_env, tmp_path).returncode == 0
    upd = run(
        ["accounts", "update", "7", "--clear-openai-api-key", "--language", "es"], cli_env, tmp_path
    )
    assert upd.returncode == 0, upd.stderr
    [view] = json.loads(run(["accounts", "list", "--json"], cli_env, tmp_path).stdout)
    assert (view["enabled"], view["key_source"], view["language"]) == (False, "none", "es")
    env = dict(cli_env, OPENAI_API_KEY=OPENAI_KEY)
    table = run(["accounts", "list"], env, tmp_path)
    assert "environment" in table.stdout
    assert run(["accounts", "enable", "7"], cli_env, tmp_path).returncode == 0
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


def test_duplicate_account_fails_cleanly(cli_env: dict[str, str], tmp_path: Path) -> None:
    assert add(cli_env, tmp_path, 9).returncode == 0
    again = add(cli_env, tmp_path, 9)
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert_no_secret(again.stderr, again.stdout)


def test_production_refuses_without_keys(cli_env: dict[str, str], tmp_path: Path) -> None:
    env = dict(cli_env, TRANSCRIBER_ENV="production")
    env.pop("TRANSCRIBER_ENCRYPTION_KEYS")
    out = run(["accounts", "list"], env, tmp_path)
    assert out.returncode == 1
    assert "TRANSCRIBER_ENCRYPTION_KEYS" in out.stderr


def test_development_key_file_is_generated_once(tmp_path: Path, cli_env: dict[str, str]) -> None:
    env = dict(cli_env, TRANSCRIBER_DATABASE_URL=f"sqlite:///{tmp_path / 'dev' / 'x.db'}")
    env.pop("TRANSCRIBER_ENCRYPTION_KEYS")
    first = add(env, tmp_path, 11)
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "dev" / "transcriber.key"
    key = key_file.read_text()
    assert "TRANSCRIBER_ENCRYPTION_KEYS" in first.stderr  # the warning
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert run(["accounts", "list"], env, tmp_path).returncode == 0
    assert key_file.read_text() == key


def test_keys_rotate_then_drop_old_key(
    cli_env: dict[str, str], tmp_path: Path, fernet_key: str
) -> None:
    assert add(cli_env, tmp_path, 12, "--openai-api-key", OPENAI_KEY).returncode == 0
    new_key = Fernet.generate_key().decode()
    both = dict(cli_env, TRANSCRIBER_ENCRYPTION_KEYS=f"{new_key},{fernet_key}")
    rotated = run(["keys", "rotate"], both, tmp_path)
    assert rotated.returncode == 0, rotated.stderr
    only_new = dict(cli_env, TRANSCRIBER_ENCRYPTION_KEYS=new_key)
    assert (
        run(["keys", "rotate"], only_new, tmp_path).returncode == 0
    )  # decryptable with the new key alone
    wrong = dict(cli_env, TRANSCRIBER_ENCRYPTION_KEYS=Fernet.generate_key().decode())
    out = run(["keys", "rotate"], wrong, tmp_path)
    assert out.returncode == 1
    assert "account 12" in out.stderr and "api_token" in out.stderr
    assert "Traceback" not in out.stderr


def test_invalid_encryption_key_is_a_clear_error(cli_env: dict[str, str], tmp_path: Path) -> None:
    out = run(
        ["accounts", "list"], dict(cli_env, TRANSCRIBER_ENCRYPTION_KEYS="not-a-key"), tmp_path
    )
    assert out.returncode == 1
    assert "not a valid Fernet key" in out.stderr
    assert "not-a-key" not in out.stderr
