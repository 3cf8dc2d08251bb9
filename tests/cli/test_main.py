"""``transcriber``'s exit codes: 0 success, 2 bad usage, 1 failure in one line on stderr."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter.cli import build_parser, handler, main
from tests.cli.helpers import commands, run


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
    "args",
    [
        ["accounts", "add", "--account-id", "x"],
        adding("-4"),
        ["accounts", "update"],
        ["accounts", "enable", "0"],
        ["nonsense"],
        [],
        ["up", "--port", "70000"],
        ["worker", "--shutdown-timeout", "-1"],
        ["retry", "--state", "delivered"],
    ],
)
def test_bad_usage_exits_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Refused by the grammar before any command runs: in this process (no subprocess)."""
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    assert "usage: transcriber" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["accounts", "update", "999"],
        adding("5", "ftp://a.test"),
        adding("5", "https://a.test", "--language", "english"),
        ["transcribe", "/no/such/file.ogg"],
        ["serve"],
        ["worker"],
    ],
)
def test_failures_exit_1_with_one_line(
    cli_env: dict[str, str], tmp_path: Path, args: list[str]
) -> None:
    out = run(args, cli_env, tmp_path)
    assert out.returncode == 1, out.stderr
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
