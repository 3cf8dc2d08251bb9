"""``accounts add|update --stream-token`` and ``--clear-stream-token``: set, replaced, cleared,
refused when short or another account's, never printed nor stored in the clear, and still
working after ``keys rotate`` (the look-up: ``adapter.streams.stream_account``)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from adapter.cli.parser import build_parser
from adapter.secrets import Keyring
from adapter.store import AccountStore, get_engine
from adapter.streams import stream_account
from tests.cli.helpers import (
    Call,
    add_transcription,
    adding,
    assert_no_secret,
    commands,
    one_line_failure,
)

TOKEN = "st-" + "Rk4" * 10
OTHER = "st-" + "Lp7" * 10


def found(database_url: str, token: str, *keys: str) -> int | None:
    account = stream_account(
        AccountStore(get_engine(database_url)), Keyring.from_keys(list(keys)), token
    )
    return None if account is None else account.id


def views(call: Call) -> dict[int, dict[str, object]]:
    listing = call(["accounts", "list", "--json"])
    assert listing.returncode == 0, listing.stderr
    assert TOKEN not in listing.stdout and OTHER not in listing.stdout
    return {v["account_id"]: v for v in json.loads(listing.stdout)}


def dump(database_url: str) -> str:
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM accounts")).all()
    engine.dispose()
    return json.dumps([list(map(str, r)) for r in rows])


@pytest.mark.both_databases
def test_a_stream_token_set_replaced_and_cleared(
    call: Call,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    database_url: str,
    fernet_key: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("TEST_STREAM_TOKEN", TOKEN)
    added = call(adding(7, "--stream-token", "env:TEST_STREAM_TOKEN"))
    assert added.returncode == 0, added.stderr
    assert call(adding(8)).returncode == 0
    assert (views(call)[7]["stream_token"], views(call)[8]["stream_token"]) == (True, False)
    assert found(database_url, TOKEN, fernet_key) == 7
    table = call(["accounts", "list"])
    assert "STREAMS" in table.stdout and TOKEN not in table.stdout + table.stderr
    stored = dump(database_url)
    assert TOKEN not in stored and "chatwoot.example.test" in stored

    path = tmp_path / "stream-token"
    path.write_text(OTHER + "\n")
    replaced = call(["accounts", "update", "7", "--stream-token", f"@{path}"])
    assert replaced.returncode == 0, replaced.stderr
    assert (found(database_url, OTHER, fernet_key), found(database_url, TOKEN, fernet_key)) == (
        7,
        None,
    )

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(TOKEN.encode() + b"\n")))
    piped = call(["accounts", "update", "8", "--stream-token", "-"])
    assert piped.returncode == 0, piped.stderr
    assert found(database_url, TOKEN, fernet_key) == 8

    cleared = call(["accounts", "update", "7", "--clear-stream-token"])
    assert cleared.returncode == 0, cleared.stderr
    assert views(call)[7]["stream_token"] is False
    assert found(database_url, OTHER, fernet_key) is None
    assert found(database_url, TOKEN, fernet_key) == 8
    for result in (added, table, replaced, piped, cleared):
        assert TOKEN not in result.stdout + result.stderr
        assert OTHER not in result.stdout + result.stderr
        assert_no_secret(result.stdout, result.stderr)
    assert TOKEN not in caplog.text and OTHER not in caplog.text


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("too-short-token-23chars", "at least 24 characters"),
        ("a long token that has spaces", "without spaces"),
    ],
)
def test_a_weak_stream_token_is_one_line_naming_the_option(
    call: Call, monkeypatch: pytest.MonkeyPatch, token: str, why: str
) -> None:
    monkeypatch.setenv("TEST_STREAM_TOKEN", token)
    result = call(adding(7, "--stream-token", "env:TEST_STREAM_TOKEN"))
    line = one_line_failure(result)
    assert "--stream-token" in line and why in line and token not in line
    assert call(["accounts", "list", "--json"]).stdout.strip() == "[]"


def test_another_account_s_stream_token_is_refused(
    call: Call, monkeypatch: pytest.MonkeyPatch, database_url: str, fernet_key: str
) -> None:
    monkeypatch.setenv("TEST_STREAM_TOKEN", TOKEN)
    assert call(adding(7, "--stream-token", "env:TEST_STREAM_TOKEN")).returncode == 0
    taken = call(adding(8, "--stream-token", "env:TEST_STREAM_TOKEN"))
    line = one_line_failure(taken)
    assert "another account has this stream token" in line and TOKEN not in line
    assert 8 not in views(call)
    assert call(adding(8)).returncode == 0
    again = call(["accounts", "update", "8", "--stream-token", "env:TEST_STREAM_TOKEN"])
    assert "another account has this stream token" in one_line_failure(again)
    assert found(database_url, TOKEN, fernet_key) == 7


@pytest.mark.both_databases
def test_keys_rotate_keeps_stream_tokens_working(
    call: Call, monkeypatch: pytest.MonkeyPatch, database_url: str, fernet_key: str
) -> None:
    monkeypatch.setenv("TEST_STREAM_TOKEN", TOKEN)
    assert call(adding(7, "--stream-token", "env:TEST_STREAM_TOKEN")).returncode == 0
    before = dump(database_url)
    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("TRANSCRIBER_ENCRYPTION_KEYS", f"{new_key},{fernet_key}")
    assert found(database_url, TOKEN, new_key, fernet_key) == 7  # before the rotation too
    rotated = call(["keys", "rotate"])
    assert rotated.returncode == 0, rotated.stderr
    assert dump(database_url) != before
    monkeypatch.setenv("TRANSCRIBER_ENCRYPTION_KEYS", new_key)
    assert found(database_url, TOKEN, new_key) == 7  # the old key dropped
    assert found(database_url, TOKEN, fernet_key) is None
    again = call(["keys", "rotate"])  # every secret opens with the new key alone
    assert again.returncode == 0, again.stderr
    assert TOKEN not in dump(database_url)


def test_the_options_are_documented_where_accounts_are_changed() -> None:
    seen = {}
    for name, parser in commands(build_parser()):
        for action in parser._actions:
            if {"--stream-token", "--clear-stream-token"} & set(action.option_strings):
                seen.setdefault(name, set()).update(action.option_strings)
                assert action.help is not None
                if "--stream-token" in action.option_strings:
                    for words in ("24 characters", "@FILE", "env:NAME", "the least safe way"):
                        assert words in action.help
    assert seen == {
        "transcriber accounts add": {"--stream-token"},
        "transcriber accounts update": {"--stream-token", "--clear-stream-token"},
        "transcriber accounts connect": {"--stream-token"},
    }


def test_list_shows_a_stream_without_a_conversation(call: Call, database_url: str) -> None:
    assert call(adding(7)).returncode == 0
    tid = add_transcription(
        database_url,
        source="stream",
        channel="stream",
        conversation_id=0,
        message_id=0,
        attachment_id=-1,
        source_url_enc="",
        state="delivered",
        text="hello",
    )
    listing = call(["list"])
    assert listing.returncode == 0, listing.stderr
    [line] = [x for x in listing.stdout.splitlines() if x.split()[0] == str(tid)]
    assert line.split()[:4] == [str(tid), "7", "-", "delivered"]
    [item] = json.loads(call(["list", "--json"]).stdout)
    assert (item["conversation_id"], item["message_id"], item["attachment_id"]) == (None,) * 3
    assert item["source"] == "stream"
