"""``transcriber backfill`` and ``transcriber reconcile`` as a user runs them (subprocesses
against the stand-in Chatwoot): summaries, a second run, a dry run, bad input, missing and
rejected tokens, and no secret in any output."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from adapter.store import Ledger, get_engine
from tests.cli.helpers import WEBHOOK_SECRET, assert_no_secret, run
from tests.standins.chatwoot_server import ChatwootStandIn

NOW = time.time()
KEYS = {"conversations", "messages", "audio", "queued", "known", "skipped"}


@pytest.fixture
def chatwoot() -> ChatwootStandIn:
    with ChatwootStandIn(account_id=7) as server:
        for n in range(3):
            server.add_conversation(10 + n, channel="Channel::Whatsapp")
            url = server.add_blob(f"v{n}.oga", b"OggS" + bytes(996), content_type="audio/ogg")
            attachment = {"file_type": "audio", "data_url": url, "file_size": 1000}
            server.add_message(10 + n, attachments=[attachment], created_at=NOW - 1800 - 3600 * n)
        server.add_message(10, content="thanks", created_at=NOW - 60)
        yield server


def add(env: dict[str, str], cwd: Path, chatwoot: ChatwootStandIn, *extra: str) -> None:
    added = run(
        [
            "accounts",
            "add",
            "--account-id",
            "7",
            "--chatwoot-url",
            chatwoot.base_url,
            "--api-token",
            chatwoot.api_token,
            "--webhook-secret",
            WEBHOOK_SECRET,
            *extra,
        ],
        env,
        cwd,
    )
    assert added.returncode == 0, added.stderr


def summary(result: Any) -> dict[str, int]:
    assert result.returncode == 0, result.stderr
    data: dict[str, int] = json.loads(result.stdout)
    return data


def test_backfill_a_dry_run_then_the_real_one_then_again(
    cli_env: dict[str, str], tmp_path: Path, chatwoot: ChatwootStandIn
) -> None:
    add(cli_env, tmp_path, chatwoot, "--user-token", chatwoot.user_token)
    backfill = ["backfill", "--account-id", "7", "--since", "2h", "--json"]

    dry = summary(run([*backfill, "--dry-run"], cli_env, tmp_path))
    assert dry == {
        "conversations": 2,
        "messages": 3,
        "audio": 2,
        "queued": 2,
        "known": 0,
        "skipped": 0,
        "bytes": 2000,
    }
    first = run(backfill, cli_env, tmp_path)
    assert summary(first) == {
        "conversations": 2,
        "messages": 3,
        "audio": 2,
        "queued": 2,
        "known": 0,
        "skipped": 0,
    }
    again = summary(run(backfill, cli_env, tmp_path))
    assert again["queued"] == 0 and again["known"] == 2

    wider = run(["backfill", "--account-id", "7", "--since", "1d"], cli_env, tmp_path)
    assert wider.returncode == 0, wider.stderr
    assert wider.stdout.strip() == (
        "backfill: 3 conversations, 4 messages, 3 audio: 1 queued, 2 known, 0 skipped"
    )
    status = run(["status", "--json"], cli_env, tmp_path)
    assert json.loads(status.stdout)["states"]["queued"] == 3
    # no Redis here: nothing could send them, so they wait due for a running `up`'s next sweep
    ledger = Ledger(get_engine(cli_env["TRANSCRIBER_DATABASE_URL"]), lease_seconds=60)
    assert len(ledger.lost(stuck_after=3600)) == 3
    assert_no_secret(first.stdout, first.stderr, wider.stdout, wider.stderr)
    assert chatwoot.user_token not in first.stdout + first.stderr
    assert chatwoot.violations == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "neither an ISO 8601 date"),
        (["--since", "1d", "--until", "2d"], "must be before --until"),
        (["--since", "1d", "--account-id", "8"], "account 8 not found"),
    ],
)
def test_backfill_refuses_bad_input_in_one_line(
    cli_env: dict[str, str],
    tmp_path: Path,
    chatwoot: ChatwootStandIn,
    args: list[str],
    message: str,
) -> None:
    add(cli_env, tmp_path, chatwoot, "--user-token", chatwoot.user_token)
    result = run(["backfill", "--account-id", "7", *args], cli_env, tmp_path)
    assert result.returncode == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_without_a_user_token_backfill_says_what_to_do_and_reconcile_says_why(
    cli_env: dict[str, str], tmp_path: Path, chatwoot: ChatwootStandIn
) -> None:
    add(cli_env, tmp_path, chatwoot)
    backfill = run(["backfill", "--account-id", "7", "--since", "1d"], cli_env, tmp_path)
    assert backfill.returncode == 1
    assert "accounts update 7 --user-token" in backfill.stderr
    reconcile = run(["reconcile", "--json"], cli_env, tmp_path)
    data = summary(reconcile)
    assert {k: data[k] for k in KEYS} == dict.fromkeys(KEYS, 0)
    (account,) = data["accounts"]  # type: ignore[misc]
    assert account["status"] == "no_user_token"
    status = run(["status"], cli_env, tmp_path)
    assert "account 7: no_user_token" in status.stdout


def test_reconcile_with_a_revoked_token_exits_1_and_status_says_which_token(
    cli_env: dict[str, str], tmp_path: Path, chatwoot: ChatwootStandIn
) -> None:
    add(cli_env, tmp_path, chatwoot, "--user-token", "revoked-user-token-0123")
    reconcile = run(["reconcile"], cli_env, tmp_path)
    assert reconcile.returncode == 1
    assert "token_rejected" in reconcile.stderr
    status = run(["status"], cli_env, tmp_path)
    assert "token_rejected" in status.stdout and "--user-token" in status.stdout
    assert "revoked-user-token-0123" not in reconcile.stdout + reconcile.stderr + status.stdout
