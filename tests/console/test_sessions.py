"""Signed-out console sessions in the store (``adapter.store.sessions``), on SQLite and
PostgreSQL. The session ids are random: the table is not emptied between tests."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest

from adapter.runtime import Runtime
from adapter.store import utcnow
from adapter.store.sessions import SessionStore


def sid() -> str:
    return secrets.token_urlsafe(24)


def test_a_revoked_session_is_refused_until_pruned(runtime: Runtime) -> None:
    store = SessionStore(runtime.ledger.engine)
    mine, other, old = sid(), sid(), sid()
    assert not store.is_revoked(mine)
    store.revoke(mine, utcnow() + timedelta(hours=12))
    store.revoke(mine, utcnow() + timedelta(hours=12))  # twice: no error
    assert store.is_revoked(mine)
    assert not store.is_revoked(other)
    store.revoke(old, utcnow() - timedelta(seconds=1))  # its cookie has expired already
    assert store.is_revoked(old)
    store.revoke(other, utcnow() + timedelta(hours=1))  # revoking prunes the expired rows
    assert not store.is_revoked(old)
    assert store.is_revoked(mine) and store.is_revoked(other)


@pytest.mark.parametrize("bad", ["", "x" * 65])
def test_a_session_id_is_1_to_64_characters(runtime: Runtime, bad: str) -> None:
    store = SessionStore(runtime.ledger.engine)
    with pytest.raises(ValueError, match="1 to 64"):
        store.revoke(bad, utcnow())
    longest = secrets.token_hex(32)
    assert len(longest) == 64
    store.revoke(longest, utcnow() + timedelta(minutes=1))
    assert store.is_revoked(longest)
