"""Stored secrets are sealed to their account and field (issue 14 item 6): a ciphertext copied
into another row does not open there; values written before secrets were bound are sealed by
``transcriber migrate`` and refused until then; ``keys rotate`` keeps the binding."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from adapter import accounts as acc
from adapter.errors import SecretError
from adapter.secrets import Keyring, attachment_label, is_sealed
from adapter.store import AccountStore, Ledger, get_engine
from tests.cli.helpers import API_TOKEN, Call, add_transcription, adding


def test_a_secret_copied_to_another_account_does_not_open(
    call: Call, database_url: str, fernet_key: str
) -> None:
    assert call(adding(7)).returncode == 0
    store = AccountStore(get_engine(database_url))
    seven = store.get(7)
    assert seven is not None and is_sealed(seven.api_token_enc)
    with get_engine(database_url).begin() as conn:  # someone who can write the database
        conn.execute(
            sa.text("UPDATE accounts SET user_token_enc = :t WHERE id = 7"),
            {"t": seven.api_token_enc},
        )
    keyring = Keyring.from_keys([fernet_key])
    assert acc.open_secret(keyring, 7, "api_token", seven.api_token_enc) == API_TOKEN
    copied = store.get(7)
    assert copied is not None and copied.user_token_enc is not None
    with pytest.raises(SecretError, match="copied from another row"):
        acc.open_secret(keyring, 7, "user_token", copied.user_token_enc)
    with pytest.raises(SecretError):
        acc.open_secret(keyring, 8, "api_token", seven.api_token_enc)


def test_migrate_seals_what_was_written_unbound_and_rotate_keeps_it_bound(
    call: Call, database_url: str, fernet_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert call(adding(7)).returncode == 0
    keyring = Keyring.from_keys([fernet_key])

    def legacy(value: str) -> str:
        """How an earlier version stored a value: a plain Fernet token, bound to nothing."""
        return Fernet(fernet_key.encode()).encrypt(value.encode()).decode()

    tid = add_transcription(database_url, source_url_enc=legacy("https://x/a.ogg"))
    engine = get_engine(database_url)
    with engine.begin() as conn:  # as an earlier version stored them: plain Fernet tokens
        conn.execute(
            sa.text("UPDATE accounts SET api_token_enc = :t WHERE id = 7"),
            {"t": legacy(API_TOKEN)},
        )
    keys = call(["doctor", "--account-id", "7"])
    assert keys.returncode == 1 and "api_token" in keys.stdout + keys.stderr
    migrated = call(["migrate"])
    assert migrated.returncode == 0, migrated.stderr
    assert "sealed 2 stored value(s) to their account and field" in migrated.stdout
    assert "sealed" not in call(["migrate"]).stdout  # nothing left to seal
    account = AccountStore(engine).get(7)
    assert account is not None and is_sealed(account.api_token_enc)
    assert acc.open_secret(keyring, 7, "api_token", account.api_token_enc) == API_TOKEN
    row = Ledger(engine, lease_seconds=60).get(tid)
    assert row is not None and is_sealed(row.source_url_enc)
    label = attachment_label(row.account_id, row.attachment_id)
    assert keyring.unseal(row.source_url_enc, label=label, what="t") == "https://x/a.ogg"

    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("TRANSCRIBER_ENCRYPTION_KEYS", f"{new_key},{fernet_key}")
    assert call(["keys", "rotate"]).returncode == 0
    rotated = AccountStore(engine).get(7)
    assert rotated is not None
    new_ring = Keyring.from_keys([new_key])
    assert acc.open_secret(new_ring, 7, "api_token", rotated.api_token_enc) == API_TOKEN
    with pytest.raises(SecretError):
        acc.open_secret(new_ring, 8, "api_token", rotated.api_token_enc)
