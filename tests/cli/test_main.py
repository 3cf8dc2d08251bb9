"""``transcriber``'s exit codes: 0 success, 2 bad usage, 1 failure in one line on stderr that
says what is wrong and what to do; and that only ``migrate``, ``up`` and ``demo`` create a
database."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from alembic import command
from cryptography.fernet import Fernet

from adapter.cli import build_parser, handler, main
from adapter.store.db import alembic_config
from tests.cli.helpers import Call, commands, one_line_failure, run
from tests.fixtures import FIXTURES

HIDDEN = "pw-do-not-show"


def adding(account_id: str, url: str = "https://a.test", *extra: str) -> list[str]:
    return [
        "accounts",
        "add",
        "--account-id",
        account_id,
        "--chatwoot-url",
        url,
        "--api-token",
        "env:TEST_API_TOKEN",
        "--webhook-secret",
        "env:TEST_WEBHOOK_SECRET",
        *extra,
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["accounts", "add", "--account-id", "x"],
        adding("-4"),
        ["accounts", "update"],
        ["accounts", "enable", "0"],
        ["accounts", "add", "--account-id", "4", "--failure-notes", "maybe"],
        ["nonsense"],
        [],
        ["up", "--port", "70000"],
        ["worker", "--shutdown-timeout", "-1"],
        ["retry", "--state", "delivered"],
        ["list", "--state", "lost"],
        ["list", "--limit", "0"],
    ],
)
def test_bad_usage_exits_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Refused by the grammar before any command runs: in this process (no subprocess)."""
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    assert "usage: transcriber" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["accounts", "update", "999"], "account 999 not found"),
        (adding("5", "ftp://a.test"), "--chatwoot-url: must be an http(s) URL"),
        (adding("5", "https://a.test", "--language", "english"), "--language: must be an ISO"),
        (["transcribe", "/no/such/file.ogg"], "no such file"),
        (
            [
                "transcribe",
                str(FIXTURES / "audio" / "en2.ogg"),
                "--engine",
                "local",
                "--model",
                "x",
            ],
            "the local engine has no model 'x'; choose one of: base, tiny.en",
        ),
        (["serve"], "needs TRANSCRIBER_REDIS_URL"),
        (["worker"], "needs TRANSCRIBER_REDIS_URL"),
    ],
)
def test_failures_exit_1_with_one_line(call: Call, args: list[str], words: str) -> None:
    assert words in one_line_failure(call(args))


@pytest.mark.parametrize(
    ("variables", "args", "words"),
    [
        ({"TRANSCRIBER_ENV": "prod"}, ["accounts", "list"], "'development', 'production' or"),
        ({"TRANSCRIBER_MAX_AUDIO_BYTES": "lots"}, ["status"], "BYTES='lots': should be a valid"),
        ({"TRANSCRIBER_REDIS_URL": f"{HIDDEN}@h:6379"}, ["retry"], "must start with redis://"),
        (
            {"TRANSCRIBER_DATABASE_URL": f"postgresql+psycopg://u:{HIDDEN}@127.0.0.1:1/db"},
            ["accounts", "list"],
            "cannot open the database db at 127.0.0.1:1: Connection refused",
        ),
        (
            {"TRANSCRIBER_REDIS_URL": f"redis://:{HIDDEN}@127.0.0.1:1/0"},
            ["retry"],
            "cannot reach Redis at redis://127.0.0.1:1",
        ),
        (
            {"TRANSCRIBER_ENCRYPTION_KEYS": "Value"},
            ["accounts", "list"],
            "TRANSCRIBER_ENCRYPTION_KEYS is not a valid Fernet key: a Fernet key is 44 characters",
        ),
        (
            {"TRANSCRIBER_ENCRYPTION_KEYS": Fernet.generate_key().decode() + ",key"},
            ["keys", "rotate"],
            "key 2 of TRANSCRIBER_ENCRYPTION_KEYS is not a valid Fernet key",
        ),
    ],
)
def test_a_bad_environment_is_one_line_naming_the_variable(
    call: Call,
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    args: list[str],
    words: str,
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    line = one_line_failure(call(args))
    assert words in line
    assert HIDDEN not in line


def test_debug_shows_the_traceback(cli_env: dict[str, str], tmp_path: Path) -> None:
    out = run(["--debug", "transcribe", "/no/such/file.ogg"], cli_env, tmp_path)
    assert out.returncode == 1
    assert "Traceback" in out.stderr and "no such file" in out.stderr


def test_no_command_but_migrate_creates_a_database(cli_env: dict[str, str], tmp_path: Path) -> None:
    """Run from the wrong directory, a command names the database it did not find and leaves
    nothing behind (the default TRANSCRIBER_DATABASE_URL is ./transcriber.db)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in cli_env.items() if k != "TRANSCRIBER_DATABASE_URL"}
    for args in (["accounts", "list"], ["status"]):
        line = one_line_failure(run(args, env, elsewhere))
        assert f"{elsewhere / 'transcriber.db'} does not exist" in line
        assert "run `transcriber migrate`" in line
    assert list(elsewhere.iterdir()) == []


def test_a_missing_directory_or_schema_is_named_and_never_made(
    call: Call, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "missing" / "x.db"
    monkeypatch.setenv("TRANSCRIBER_DATABASE_URL", f"sqlite:///{missing}")
    for args in (["migrate"], ["list"]):
        assert f"the directory of the SQLite database {missing} does not exist" in (
            one_line_failure(call(args))
        )
    assert not missing.parent.exists()

    old = tmp_path / "old.db"
    command.upgrade(alembic_config(f"sqlite:///{old}"), "0002")
    monkeypatch.setenv("TRANSCRIBER_DATABASE_URL", f"sqlite:///{old}")
    line = one_line_failure(call(["accounts", "list"]))
    assert "has schema revision 0002, older than this version's" in line
    assert line.endswith("run `transcriber migrate`")
    assert call(["migrate"]).returncode == 0
    assert call(["accounts", "list"]).stdout == "no accounts\n"

    empty = tmp_path / "empty.db"
    empty.touch()
    monkeypatch.setenv("TRANSCRIBER_DATABASE_URL", f"sqlite:///{empty}")
    assert "has no schema yet: run `transcriber migrate`" in one_line_failure(call(["list"]))


@pytest.mark.redis
def test_serve_on_a_busy_port_is_one_line(
    call: Call, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    monkeypatch.setenv("TRANSCRIBER_REDIS_URL", redis_url)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_failure(call(["serve", "--port", str(port)]))
    assert f"port {port} on 127.0.0.1 is in use" in line
    assert "choose another --port" in line


def test_every_command_names_a_handler_that_exists() -> None:
    for name, parser in commands(build_parser()):
        if parser.get_default("handler") is not None:
            assert callable(handler(parser.get_default("handler"))), name
