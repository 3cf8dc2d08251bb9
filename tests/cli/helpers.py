"""Driving the ``transcriber`` command as a subprocess, and walking over its grammar."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

API_TOKEN = "cw-agent-bot-token-" + "q7" * 10
WEBHOOK_SECRET = "whsec-" + "z9" * 12
OPENAI_KEY = "sk-test-" + "k3" * 20

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
