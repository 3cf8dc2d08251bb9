"""``transcriber``'s exit codes: 0 success, 2 bad usage, 1 failure in one line on stderr."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter.cli import build_parser, handler
from tests.cli.conftest import commands, run


def adding(account_id: str, url: str = "https://a.test", *extra: str) -> list[str]:
    return [
        "accounts",
        "add",
        "--account-id",
        account_id,
        "--chatwoot-url",
        url,
        "--api-token",
        "t",
        "--webhook-secret",
        "s",
        *extra,
    ]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["accounts", "add", "--account-id", "x"], 2),
        (adding("-4"), 2),
        (["accounts", "update"], 2),
        (["accounts", "enable", "0"], 2),
        (["nonsense"], 2),
        ([], 2),
        (["up", "--port", "70000"], 2),
        (["accounts", "update", "999"], 1),
        (adding("5", "ftp://a.test"), 1),
        (adding("5", "https://a.test", "--language", "english"), 1),
        (["transcribe", "/no/such/file.ogg"], 1),
        (["serve"], 1),
        (["worker"], 1),
        (["worker", "--shutdown-timeout", "-1"], 2),
        (["retry", "--state", "delivered"], 2),
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


def test_debug_shows_the_traceback(cli_env: dict[str, str], tmp_path: Path) -> None:
    out = run(["--debug", "transcribe", "/no/such/file.ogg"], cli_env, tmp_path)
    assert out.returncode == 1
    assert "Traceback" in out.stderr and "no such file" in out.stderr


def test_every_command_names_a_handler_that_exists() -> None:
    for name, parser in commands(build_parser()):
        if parser.get_default("handler") is not None:
            assert callable(handler(parser.get_default("handler"))), name
