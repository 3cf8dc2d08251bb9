"""The CLI driven as a subprocess: exit codes, messages, and no secret in any output or file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

API_TOKEN = "cw-agent-bot-token-" + "q7" * 10
WEBHOOK_SECRET = "whsec-" + "z9" * 12
OPENAI_KEY = "sk-test-" + "k3" * 20


def run(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "adapter", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, fernet_key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRANSCRIBER_", "OPENAI_"))}
    env.update(
        {
            "TRANSCRIBER_DATABASE_URL": database_url,
            "TRANSCRIBER_ENCRYPTION_KEYS": fernet_key,
            "TRANSCRIBER_WORK_DIR": str(tmp_path / "work"),
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        }
    )
    return env


def add(
    env: dict[str, str], cwd: Path, account_id: int = 7, *extra: str
) -> subprocess.CompletedProcess[str]:
    return run(
        [
            "accounts",
            "add",
            "--account-id",
            str(account_id),
            "--chatwoot-url",
            "https://chatwoot.example.test",
            "--api-token",
            API_TOKEN,
            "--webhook-secret",
            WEBHOOK_SECRET,
            *extra,
        ],
        env,
        cwd,
    )


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in (API_TOKEN, WEBHOOK_SECRET, OPENAI_KEY):
            assert secret not in text


def test_help_documents_every_command(cli_env: dict[str, str], tmp_path: Path) -> None:
    out = run(["--help"], cli_env, tmp_path)
    assert out.returncode == 0
    for command in (
        "up",
        "serve",
        "worker",
        "migrate",
        "accounts",
        "keys",
        "transcribe",
        "status",
        "retry",
        "demo",
    ):
        assert command in out.stdout
        assert run([command, "--help"], cli_env, tmp_path).returncode == 0


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
        import sqlalchemy as sa

        engine = sa.create_engine(database_url)
        with engine.connect() as conn:
            dump = json.dumps(
                [list(map(str, r)) for r in conn.execute(sa.text("SELECT * FROM accounts"))]
            )
        engine.dispose()
        assert "chatwoot.example.test" in dump
        assert_no_secret(dump)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["accounts", "add", "--account-id", "x"], 2),
        (
            [
                "accounts",
                "add",
                "--account-id",
                "-4",
                "--chatwoot-url",
                "https://a.test",
                "--api-token",
                "t",
                "--webhook-secret",
                "s",
            ],
            2,
        ),
        (["accounts", "update"], 2),
        (["accounts", "enable", "0"], 2),
        (["nonsense"], 2),
        ([], 2),
        (["up", "--port", "70000"], 2),
        (["accounts", "update", "999"], 1),
        (
            [
                "accounts",
                "add",
                "--account-id",
                "5",
                "--chatwoot-url",
                "ftp://a.test",
                "--api-token",
                "t",
                "--webhook-secret",
                "s",
            ],
            1,
        ),
        (
            [
                "accounts",
                "add",
                "--account-id",
                "5",
                "--chatwoot-url",
                "https://a.test",
                "--api-token",
                "t",
                "--webhook-secret",
                "s",
                "--language",
                "english",
            ],
            1,
        ),
        (["transcribe", "/no/such/file.ogg"], 1),
        (["serve"], 1),
        (["worker"], 1),
    ],
)
def test_bad_usage_and_failures(
    cli_env: dict[str, str], tmp_path: Path, args: list[str], code: int
) -> None:
    out = run(args, cli_env, tmp_path)
    assert out.returncode == code, out.stderr
    if code == 1:
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("transcriber: ")
        assert "Traceback" not in out.stderr


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
    from cryptography.fernet import Fernet

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


def test_status_and_retry(cli_env: dict[str, str], tmp_path: Path) -> None:
    status = run(["status", "--json"], cli_env, tmp_path)
    assert status.returncode == 0, status.stderr
    data: dict[str, Any] = json.loads(status.stdout)
    assert data["states"]["queued"] == 0
    retry = run(["retry"], cli_env, tmp_path)
    assert retry.returncode == 0
    assert "re-queued 0" in retry.stdout


@pytest.mark.local_engine
@pytest.mark.slow
def test_transcribe_command_with_the_local_engine(cli_env: dict[str, str], tmp_path: Path) -> None:
    from tests.conftest import FIXTURES

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
