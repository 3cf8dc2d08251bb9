"""Secret options off the command line: ``-`` (standard input, a prompt without echo on a
terminal), ``@FILE``, ``env:NAME``, and the plain argument that still works with a warning
(the process list itself is not read: no portable way; the warning says it). Each form stores
the same secret; each way of failing is one line (exit 1) or bad usage (exit 2); no secret is
ever printed or logged."""

from __future__ import annotations

import io
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adapter.cli import build_parser
from adapter.cli.options import SecretSource, parse_source
from adapter.cli.secrets import MAX_SECRET_BYTES
from tests.cli.helpers import (
    API_TOKEN,
    OPENAI_KEY,
    WEBHOOK_SECRET,
    Call,
    Result,
    adding,
    assert_no_secret,
    commands,
    one_line_failure,
    stored_secrets,
)

SECRET_OPTIONS = ("--api-token", "--webhook-secret", "--openai-api-key", "--user-token")
USER_TOKEN = "cw-user-token-" + "u5" * 12
WARNING = "shows in the process list and the shell's history"


def adding_with(token: str, *extra: str) -> list[str]:
    """``accounts add`` of account 7, the API token given as ``token``."""
    args = adding(7, *extra)
    args[args.index("--api-token") + 1] = token
    return args


def piped(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    """Standard input as a pipe that holds ``data``."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def secret_file(tmp_path: Path, content: bytes, name: str = "token") -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return f"@{path}"


@pytest.mark.parametrize("form", ["stdin", "file", "file-crlf", "env", "argument"])
def test_each_form_stores_the_secret(
    form: str,
    call: Call,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    database_url: str,
    fernet_key: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if form == "stdin":
        piped(monkeypatch, API_TOKEN.encode() + b"\n")
        token = "-"
    elif form == "file":
        token = secret_file(tmp_path, API_TOKEN.encode() + b"\n")
    elif form == "file-crlf":
        token = secret_file(tmp_path, API_TOKEN.encode() + b"\r\n")
    elif form == "env":
        monkeypatch.setenv("MY_CHATWOOT_TOKEN", API_TOKEN)
        token = "env:MY_CHATWOOT_TOKEN"
    else:
        token = API_TOKEN

    added = call(adding_with(token))

    assert added.returncode == 0, added.stderr
    assert stored_secrets(database_url, fernet_key, 7)["api_token"] == API_TOKEN
    if form == "argument":
        assert added.stderr == (
            f"warning: --api-token given as an argument {WARNING}; give --api-token - "
            "(standard input), @FILE or env:NAME\n"
        )
    else:
        assert added.stderr == ""
    assert_no_secret(added.stdout, added.stderr, caplog.text)


def test_every_secret_option_of_update_takes_every_form(
    call: Call,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    database_url: str,
    fernet_key: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert call(adding(7)).returncode == 0
    new_token, new_secret = API_TOKEN[::-1], WEBHOOK_SECRET[::-1]
    piped(monkeypatch, new_secret.encode())  # no newline at the end: nothing to strip
    monkeypatch.setenv("THE_KEY", OPENAI_KEY)
    updated = call(
        [
            "accounts",
            "update",
            "7",
            "--api-token",
            secret_file(tmp_path, new_token.encode() + b"\n"),
            "--webhook-secret",
            "-",
            "--openai-api-key",
            "env:THE_KEY",
            "--user-token",
            USER_TOKEN,
        ]
    )
    assert updated.returncode == 0, updated.stderr
    assert stored_secrets(database_url, fernet_key, 7) == {
        "api_token": new_token,
        "webhook_secret": new_secret,
        "openai_api_key": OPENAI_KEY,
        "user_token": USER_TOKEN,
    }
    assert updated.stderr.count(WARNING) == 1 and "--user-token given as an argument" in (
        updated.stderr
    )
    for text in (updated.stdout, updated.stderr, caplog.text):
        assert_no_secret(text)
        for secret in (new_token, new_secret, USER_TOKEN):
            assert secret not in text


def test_standard_input_of_a_real_process(
    cli_env: dict[str, str], tmp_path: Path, database_url: str, fernet_key: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "adapter", *adding_with("-")],
        input=API_TOKEN + "\n",
        env=cli_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert stored_secrets(database_url, fernet_key, 7)["api_token"] == API_TOKEN
    assert_no_secret(done.stdout, done.stderr)


# ─── a terminal: the prompt, and nothing typed is echoed ──────────────────────────────────────

#: makes the pty on fd 0 the process's controlling terminal (getpass opens /dev/tty), then runs
#: ``transcriber`` in its place
_ON_A_TERMINAL = (
    "import fcntl, os, sys, termios\n"
    "fcntl.ioctl(0, termios.TIOCSCTTY, 0)\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'adapter', *sys.argv[1:]])\n"
)


def _read_until(fd: int, wanted: bytes, deadline: float) -> bytes:
    """What the terminal shows until ``wanted`` has shown, or until the process has closed it."""
    seen = b""
    while wanted not in seen:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"the terminal showed {seen!r}, not {wanted!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: every end of the terminal is closed
            break
        if not chunk:
            break
        seen += chunk
    return seen


def test_a_terminal_is_prompted_without_echo(
    cli_env: dict[str, str], tmp_path: Path, database_url: str, fernet_key: str
) -> None:
    master, slave = os.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", _ON_A_TERMINAL, *adding_with("-")],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=cli_env,
            cwd=tmp_path,
            start_new_session=True,  # a session of its own, whose terminal the pty becomes
        )
        os.close(slave)
        deadline = time.monotonic() + 60
        shown = _read_until(master, b"--api-token: ", deadline)
        os.write(master, API_TOKEN.encode() + b"\n")  # typed once the prompt shows
        shown += _read_until(master, b"\0never", deadline)
        assert process.wait(timeout=60) == 0, shown
    finally:
        os.close(master)
    assert b"account 7 added" in shown
    assert API_TOKEN.encode() not in shown  # not echoed
    assert WARNING.encode() not in shown
    assert stored_secrets(database_url, fernet_key, 7)["api_token"] == API_TOKEN


# ─── what cannot be read: one line, exit 1, the secret never shown ────────────────────────────


def test_files_that_cannot_be_read(
    call: Call, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "folder").mkdir()
    unreadable = tmp_path / "s"  # a socket: open() fails even for root
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(unreadable))
        cases = {
            f"@{tmp_path / 'missing'}": "--api-token: the file it names does not exist (a "
            "secret that begins with @ must come from a file, standard input or env:NAME)",
            "@s3cret-that-starts-with-at": "--api-token: the file it names does not exist",
            f"@{tmp_path / 'folder'}": f"--api-token: the path {tmp_path / 'folder'} is a "
            "directory, not a file",
            f"@{unreadable}": f"--api-token: cannot read {unreadable}: No such device or address",
            secret_file(tmp_path, b"", "empty"): f"--api-token: the file {tmp_path / 'empty'} is "
            "empty",
            secret_file(
                tmp_path, b"\n", "newline"
            ): f"--api-token: the file {tmp_path / 'newline'} is empty",
            secret_file(tmp_path, b"x" * (MAX_SECRET_BYTES + 1), "big"): f"--api-token: the "
            f"file {tmp_path / 'big'} holds more than 64 KiB, which is no secret",
            secret_file(tmp_path, b"\xff\xfe" + API_TOKEN.encode(), "latin"): f"--api-token: the "
            f"file {tmp_path / 'latin'} is not UTF-8 text",
        }
        for token, words in cases.items():
            failed = call(adding_with(token))
            assert words in one_line_failure(failed), token
            assert_no_secret(failed.stdout, failed.stderr)
        assert "s3cret-that" not in call(adding_with("@s3cret-that-starts-with-at")).stderr
    # a file of 64 KiB is read (and then refused as too long a token, by the account's rules)
    fits = call(adding_with(secret_file(tmp_path, b"x" * MAX_SECRET_BYTES, "fits")))
    assert "--api-token: must be a non-empty printable string" in one_line_failure(fits)
    # the trailing newline is stripped, not the lines before it
    lines = (API_TOKEN + "\n" + API_TOKEN + "\n").encode()
    two = call(adding_with(secret_file(tmp_path, lines, "two")))
    assert "--api-token: must be a non-empty printable string" in one_line_failure(two)
    assert_no_secret(two.stderr)


def test_variables_and_standard_input_that_hold_nothing(
    call: Call, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    unset = call(adding_with("env:NOT_SET_ANYWHERE"))
    assert "--api-token: the environment variable NOT_SET_ANYWHERE is not set" in (
        one_line_failure(unset)
    )
    monkeypatch.setenv("SET_EMPTY", "")
    empty = call(adding_with("env:SET_EMPTY"))
    assert "--api-token: the environment variable SET_EMPTY is empty" in one_line_failure(empty)
    piped(monkeypatch, b"")
    nothing = call(adding_with("-"))
    assert "--api-token: standard input is empty" in one_line_failure(nothing)
    piped(monkeypatch, b"y" * (MAX_SECRET_BYTES + 1))
    flood = call(adding_with("-"))
    assert "--api-token: standard input holds more than 64 KiB" in one_line_failure(flood)


# ─── bad usage: exit 2 before anything is read ────────────────────────────────────────────────


def _bad_usage(call: Call, args: list[str]) -> Result:
    result = call(args)
    assert result.returncode == 2, result.stderr
    assert "usage: transcriber accounts" in result.stderr
    return result


def test_standard_input_is_read_for_one_option_only(
    call: Call, monkeypatch: pytest.MonkeyPatch
) -> None:
    piped(monkeypatch, API_TOKEN.encode())
    args = adding_with("-")
    args[args.index("--webhook-secret") + 1] = "-"
    twice = _bad_usage(call, args)
    assert (
        "argument --webhook-secret: standard input (-) is already read for --api-token; give "
        "one of them as @FILE or env:NAME"
    ) in twice.stderr
    assert sys.stdin.read() == API_TOKEN  # nothing was read
    update = ["accounts", "update", "7", "--openai-api-key", "-", "--user-token", "-"]
    assert "already read for --openai-api-key" in _bad_usage(call, update).stderr


@pytest.mark.parametrize(
    ("token", "words"),
    [
        ("@", "argument --api-token: @ needs a file's path"),
        ("env:", "argument --api-token: env: needs an environment variable's name"),
        ("env:1ABC", "env: needs an environment variable's name (letters, digits and _)"),
        ("env:A-B", "env: needs an environment variable's name"),
    ],
)
def test_forms_that_name_nothing_are_bad_usage(call: Call, token: str, words: str) -> None:
    assert words in _bad_usage(call, adding_with(token)).stderr


def test_the_source_of_an_argument_never_shows_the_secret() -> None:
    source = parse_source("--api-token", API_TOKEN)
    assert source == SecretSource("--api-token", "argument", API_TOKEN)
    assert API_TOKEN not in repr(source)
    args = build_parser().parse_args(adding_with(API_TOKEN))
    assert API_TOKEN not in repr(args)
    assert repr(parse_source("--user-token", "@/run/secrets/t")) == (
        "SecretSource(--user-token, file, '/run/secrets/t')"
    )
    assert parse_source("--user-token", "env:X").kind == "env"
    assert parse_source("--user-token", "-").kind == "stdin"
    assert parse_source("--user-token", "environment").kind == "argument"


# ─── --help: the forms, and that an argument is the least safe way ────────────────────────────


def test_help_says_arguments_are_the_least_safe_way() -> None:
    seen = set()
    for name, parser in commands(build_parser()):
        for action in parser._actions:
            option = next((o for o in action.option_strings if o in SECRET_OPTIONS), None)
            if option is None or (name.endswith("connect") and option in SECRET_OPTIONS[:2]):
                continue  # connect takes the bot's token and the webhook's secret from Chatwoot
            seen.add((name, option))
            assert action.help is not None
            for words in ("- (standard input", "@FILE", "env:NAME", "the least safe way"):
                assert words in action.help, (name, option)
        if name.split()[-1] in ("add", "update", "connect") and "accounts" in name:
            assert parser.description is not None
            assert "given as a plain argument it shows in the process list" in (parser.description)
            assert "the least safe way" in parser.description
    assert {name for name, _ in seen} == {
        "transcriber accounts add",
        "transcriber accounts update",
        "transcriber accounts connect",
    }
    assert len(seen) == 10
