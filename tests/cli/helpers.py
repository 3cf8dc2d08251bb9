"""Driving the ``transcriber`` command as a subprocess (or, for the commands that start nothing,
in this process: ``Call``), and walking over its grammar."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session

from adapter.accounts import open_secret
from adapter.secrets import Keyring
from adapter.store import AccountStore, Transcription, get_engine

API_TOKEN = "cw-agent-bot-token-" + "q7" * 10
WEBHOOK_SECRET = "whsec-" + "z9" * 12
OPENAI_KEY = "sk-test-" + "k3" * 20
#: the secrets above in the environment of every command the tests run, so that commands give
#: them as env:NAME (a plain argument works too, with a warning on stderr: tests/cli/test_secrets)
SECRET_VARIABLES = {
    "TEST_API_TOKEN": API_TOKEN,
    "TEST_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "TEST_OPENAI_KEY": OPENAI_KEY,
}

#: what the commands read from the environment: none of the developer's may leak in
PREFIXES = ("TRANSCRIBER_", "OPENAI_", "SENTRY_", "STATSD_", "dramatiq_")


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


@dataclass(frozen=True)
class Result:
    """What a command run in this process did: its exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str


#: ``main`` in this process, with the test's environment: for commands that fail or finish
#: before they start any thread or logging (a tenth of a subprocess's second)
Call = Callable[[list[str]], Result]


def one_line_failure(result: Result | subprocess.CompletedProcess[str]) -> str:
    """The one line a failure prints, once checked to be just that: exit 1, no traceback, no
    library's link or class, no word masked as a secret."""
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("transcriber: "), line
    for noise in (
        "Traceback",
        "unexpected",
        "sqlalche.me",
        "pydantic.dev",
        "Value error",
        "[redacted]",
    ):
        assert noise not in line, line
    return line


def adding(account_id: int, *extra: str) -> list[str]:
    """``accounts add`` of account ``account_id`` with the test's URL, token and secret."""
    return [
        "accounts",
        "add",
        "--account-id",
        str(account_id),
        "--chatwoot-url",
        "https://chatwoot.example.test",
        "--api-token",
        "env:TEST_API_TOKEN",
        "--webhook-secret",
        "env:TEST_WEBHOOK_SECRET",
        *extra,
    ]


def add(
    env: dict[str, str], cwd: Path, account_id: int = 7, *extra: str
) -> subprocess.CompletedProcess[str]:
    return run(adding(account_id, *extra), env, cwd)


def add_transcription(database_url: str, **values: Any) -> int:
    """A transcription row as the pipeline leaves it (account 7, queued unless told); its id."""
    row = Transcription(
        **{
            "account_id": 7,
            "conversation_id": 1,
            "message_id": 2,
            "attachment_id": 3,
            "channel": "api",
            "source_url_enc": "not-read-here",
            **values,
        }
    )
    with Session(get_engine(database_url)) as session:
        session.add(row)
        session.commit()
        session.refresh(row)
    assert row.id is not None
    return row.id


def stored_secrets(database_url: str, fernet_key: str, account_id: int) -> dict[str, str | None]:
    """The secrets account ``account_id`` holds, decrypted as the service reads them."""
    account = AccountStore(get_engine(database_url)).get(account_id)
    assert account is not None
    keyring = Keyring.from_keys([fernet_key])

    def clear(field: str, token: str | None) -> str | None:
        return open_secret(keyring, account_id, field, token) if token else None

    return {
        "api_token": clear("api_token", account.api_token_enc),
        "webhook_secret": clear("webhook_secret", account.webhook_secret_enc),
        "openai_api_key": clear("openai_api_key", account.openai_api_key_enc),
        "user_token": clear("user_token", account.user_token_enc),
    }


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in (API_TOKEN, WEBHOOK_SECRET, OPENAI_KEY):
            assert secret not in text


def commands(
    parser: argparse.ArgumentParser, name: str = "transcriber"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every (sub)command's parser, depth first, with its full name."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from commands(sub, f"{name} {sub_name}")


def options(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            yield action
