"""``adapter.streams.stream_account`` and the stream tokens it reads: the token alone finds its
account, by a keyed digest, on SQLite and PostgreSQL; hostile input finds nothing; nothing
stored holds the token; ``keys rotate`` keeps tokens working; ``finish_stream`` records what a
stream cost (its notes: ``tests/jobs/test_stream_notes.py``)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter import accounts as acc
from adapter import usage
from adapter.runtime import Runtime
from adapter.secrets import Keyring
from adapter.store import STREAM, State
from adapter.streams import StreamResult, finish_stream, stream_account
from tests.helpers import SECRET

TOKENS = {
    3: "st-3-Kq8vR2mXz7LpW4nYb6TcJ1sHd9",
    4: "st-4-Hw3nQ9rVb5KxM2pLz8YcT6fJa1",
    5: "st-5-Zt7pX1mKq4RvN8wLb2YcH5sJd3",
}


def add(rt: Runtime, account_id: int, **more: object) -> None:
    acc.create_account(
        rt.accounts,
        rt.keyring,
        account_id,
        acc.parse_changes(
            {
                "chatwoot_url": "https://chatwoot.example.test",
                "api_token": f"cw-api-token-{account_id}",
                "webhook_secret": SECRET,
                **more,
            }
        ),
    )


@pytest.fixture
def three(runtime: Runtime) -> Runtime:
    """Accounts 3, 4 and 5, each with its stream token, and 6 with none."""
    for account_id, token in TOKENS.items():
        add(runtime, account_id, stream_token=token)
    add(runtime, 6)
    return runtime


def found(rt: Runtime, token: str, keyring: Keyring | None = None) -> int | None:
    account = stream_account(rt.accounts, keyring or rt.keyring, token)
    return None if account is None else account.id


def raw_accounts(rt: Runtime) -> list[dict[str, object]]:
    with rt.accounts.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM accounts"))]


def test_the_token_alone_finds_its_account_among_several(three: Runtime) -> None:
    for account_id, token in TOKENS.items():
        assert found(three, token) == account_id
    assert acc.account_view(three.accounts.get(3), three.settings)["stream_token"] is True  # type: ignore[arg-type]
    assert acc.account_view(three.accounts.get(6), three.settings)["stream_token"] is False  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "token",
    [
        "",
        " ",
        TOKENS[3][:-1],  # a prefix
        TOKENS[3] + "x",  # longer
        TOKENS[3].upper(),
        f" {TOKENS[3]}",
        f"{TOKENS[3]}\n",
        TOKENS[3].replace("K", "\u041a"),  # a Cyrillic capital ka
        "\ud800" * 30,  # a lone surrogate, as broken decoding leaves it
        "é" * 40,
        "\x00" * 40,
        "A" * 4097,
        "A" * 10_000_000,
        "st-9-doesnotexistanywhere000000",
    ],
)
def test_wrong_empty_huge_and_non_ascii_tokens_find_nothing(three: Runtime, token: str) -> None:
    assert found(three, token) is None


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_no_text_raises_or_finds_an_account(three: Runtime, token: str) -> None:
    assert found(three, token) in (None, *[i for i, t in TOKENS.items() if t == token])


def test_a_disabled_account_s_token_is_refused_and_works_again_when_enabled(
    three: Runtime,
) -> None:
    acc.set_enabled(three.accounts, 4, False)
    assert found(three, TOKENS[4]) is None
    assert found(three, TOKENS[3]) == 3
    acc.set_enabled(three.accounts, 4, True)
    assert found(three, TOKENS[4]) == 4


def test_a_token_is_replaced_and_cleared(three: Runtime) -> None:
    new = "st-3-NEW-a8Fq2LmZ9xVb4RtY7pKc"
    acc.update_account(three.accounts, three.keyring, 3, acc.parse_changes({"stream_token": new}))
    assert (found(three, new), found(three, TOKENS[3])) == (3, None)
    acc.update_account(
        three.accounts, three.keyring, 3, acc.parse_changes({"clear_stream_token": True})
    )
    assert found(three, new) is None
    row = three.accounts.get(3)
    assert row is not None and (row.stream_token_enc, row.stream_token_digest) == (None, None)
    assert found(three, TOKENS[4]) == 4  # the others untouched


def test_nothing_stored_holds_the_token(three: Runtime) -> None:
    rows = raw_accounts(three)
    for row in rows:
        text = " ".join(str(v) for v in row.values())
        for token in TOKENS.values():
            assert token not in text
            assert token.encode().hex() not in text
    with_tokens = [r for r in rows if r["stream_token_digest"] is not None]
    assert len(with_tokens) == 3
    for row in with_tokens:
        digest = str(row["stream_token_digest"])
        assert len(digest) == 64 and int(digest, 16) >= 0
        assert str(row["stream_token_enc"]).startswith("v2.")
    # keyed: the digest is no plain hash of the token
    plain = {hashlib.sha256(t.encode()).hexdigest() for t in TOKENS.values()}
    assert not plain & {str(r["stream_token_digest"]) for r in with_tokens}


def test_a_sealed_token_copied_to_another_account_opens_nothing(three: Runtime) -> None:
    """Account 4's row given account 3's sealed token and digest (a copied database row):
    the token finds no account, rather than the wrong one."""
    with three.accounts.engine.begin() as conn:
        three_row = conn.execute(
            sa.text("SELECT stream_token_enc FROM accounts WHERE id = 3")
        ).scalar_one()
        conn.execute(
            sa.text("UPDATE accounts SET stream_token_enc = :v WHERE id = 4"), {"v": three_row}
        )
    assert found(three, TOKENS[4]) is None
    assert found(three, TOKENS[3]) == 3


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("short-token-23-chars-xx", "at least 24 characters"),
        ("a token with some spaces in it", "without spaces"),
        ("tökén-with-accents-is-not-ascii", "visible ASCII"),
    ],
)
def test_short_or_unsafe_tokens_are_refused_without_echoing_them(
    three: Runtime, token: str, why: str
) -> None:
    with pytest.raises(acc.AccountError) as caught:
        acc.parse_changes({"stream_token": token})
    assert caught.value.status == 422
    assert why in str(caught.value) and token not in str(caught.value)


def test_another_account_s_token_is_refused(three: Runtime) -> None:
    with pytest.raises(acc.AccountError, match="another account has this stream token") as caught:
        acc.update_account(
            three.accounts, three.keyring, 6, acc.parse_changes({"stream_token": TOKENS[3]})
        )
    assert caught.value.status == 409 and TOKENS[3] not in str(caught.value)
    with pytest.raises(acc.AccountError, match="another account has this stream token"):
        add(three, 7, stream_token=TOKENS[4])
    assert three.accounts.get(7) is None
    # the same token set again on its own account is fine
    acc.update_account(
        three.accounts, three.keyring, 3, acc.parse_changes({"stream_token": TOKENS[3]})
    )
    assert found(three, TOKENS[3]) == 3


def test_keys_rotate_keeps_tokens_working(three: Runtime) -> None:
    old_key = three.settings.encryption_keys.get_secret_value()  # type: ignore[union-attr]
    new_key = Fernet.generate_key().decode()
    both = Keyring.from_keys([new_key, old_key])
    before = {r["id"]: r["stream_token_digest"] for r in raw_accounts(three)}
    # the new key first, not rotated yet: found by the old key's digest
    assert all(found(three, t, both) == i for i, t in TOKENS.items())
    acc.rotate_all(three.accounts, three.ledger, both)
    after = {r["id"]: r["stream_token_digest"] for r in raw_accounts(three)}
    assert all(after[i] != before[i] for i in TOKENS) and after[6] is None
    # the old key dropped: still found, and the tokens still open
    alone = Keyring.from_keys([new_key])
    assert all(found(three, t, alone) == i for i, t in TOKENS.items())
    assert found(three, TOKENS[3], Keyring.from_keys([old_key])) is None  # old key alone: no


def test_a_token_set_between_a_new_key_and_the_rotation_collides_with_no_one(
    three: Runtime,
) -> None:
    """Account 3's digest is still under the old key while the new key seals: the same token
    given to account 6 is refused all the same (``keys rotate`` would collide on it)."""
    old_key = three.settings.encryption_keys.get_secret_value()  # type: ignore[union-attr]
    both = Keyring.from_keys([Fernet.generate_key().decode(), old_key])
    with pytest.raises(acc.AccountError, match="another account"):
        acc.update_account(three.accounts, both, 6, acc.parse_changes({"stream_token": TOKENS[3]}))


def result(**changes: object) -> StreamResult:
    values: dict[str, object] = {
        "conversation_id": None,
        "text": "Hello, I would like to know where my order is.",
        "language": "english",
        "duration": 12.5,
        "billed_seconds": 12.5,
        "engine": "openai",
        "model": "whisper-1",
        "started_at": datetime.now(UTC) - timedelta(seconds=13),
    }
    values.update(changes)
    return StreamResult(**values)  # type: ignore[arg-type]


def test_a_stream_without_a_conversation_is_recorded_and_counted(three: Runtime) -> None:
    started = datetime.now(UTC) - timedelta(minutes=3)
    account = three.accounts.get(3)
    assert account is not None
    tid = finish_stream(three, account, result(started_at=started))
    assert tid is not None
    row = three.ledger.get(tid)
    assert row is not None
    assert (row.source, row.state, row.channel) == (STREAM, State.delivered, "stream")
    assert (row.language, row.duration_seconds, row.spent_seconds) == ("en", 12.5, 12.5)
    assert (row.message_id, row.conversation_id, row.note_message_id) == (0, 0, None)
    assert row.attachment_id < 0 and row.failure_note is None
    assert abs((row.created_at - started).total_seconds()) < 1
    second = finish_stream(three, account, result())
    assert second is not None and second != tid
    other = three.ledger.get(second)
    assert other is not None and other.attachment_id == row.attachment_id - 1
    made = usage.report(three.usage, three.prices, by="channel", account_id=3)
    [stream] = [r for r in made.rows if r.key == "stream"]
    assert (stream.transcriptions, stream.billed_seconds) == (2, 25.0)
    assert stream.cost_usd == pytest.approx(2 * 12.5 / 60 * 0.006)


def test_a_stream_with_no_audio_records_nothing(three: Runtime) -> None:
    account = three.accounts.get(3)
    assert account is not None
    assert finish_stream(three, account, result(text=" ", duration=0, billed_seconds=0)) is None
    assert three.ledger.recent(source=STREAM) == []


def test_a_stream_counts_in_the_budget_and_its_alerts(three: Runtime) -> None:
    acc.update_account(
        three.accounts, three.keyring, 4, acc.parse_changes({"monthly_budget_usd": 0.01})
    )
    account = three.accounts.get(4)
    assert account is not None
    finish_stream(three, account, result(duration=600.0, billed_seconds=600.0))  # 0.06 USD
    assert usage.month_to_date(three.usage, three.prices, 4) == pytest.approx(0.06)
    alerts = three.usage.alerts(datetime.now(UTC).strftime("%Y-%m"))
    assert {(a.account_id, a.threshold) for a in alerts} == {(4, 80), (4, 100)}


def test_a_conversation_id_no_conversation_has_records_the_stream_without_a_note(
    three: Runtime,
) -> None:
    account = three.accounts.get(3)
    assert account is not None
    for bad in (0, -4, 2**63):
        tid = finish_stream(three, account, result(conversation_id=bad))
        row = three.ledger.get(tid or 0)
        assert row is not None and (row.state, row.conversation_id) == (State.delivered, 0)


def test_the_stream_s_text_is_masked_as_the_account_asks(three: Runtime) -> None:
    acc.update_account(
        three.accounts, three.keyring, 5, acc.parse_changes({"redact": "cards,email"})
    )
    account = three.accounts.get(5)
    assert account is not None
    said = "My card is 4111 1111 1111 1111 and my mail is ana@example.com"
    tid = finish_stream(three, account, result(text=said))
    row = three.ledger.get(tid or 0)
    assert row is not None and row.text is not None
    assert "4111" not in row.text and "ana@example.com" not in row.text
