"""``adapter.secrets``: sealed values open only with their label and a configured key;
rotation; old unbound values are re-sealed, then refused."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st

from adapter.errors import SecretError
from adapter.secrets import Keyring, is_sealed


def keyring(*keys: str) -> Keyring:
    return Keyring.from_keys(list(keys))


KEY_A, KEY_B = Fernet.generate_key().decode(), Fernet.generate_key().decode()


@given(st.text(max_size=300), st.text(min_size=1, max_size=60))
def test_a_sealed_value_opens_with_its_label(value: str, label: str) -> None:
    ring = keyring(KEY_A)
    token = ring.seal(value, label=label, register=False)
    assert is_sealed(token)
    assert ring.unseal(token, label=label, what="x", register=False) == value


def test_a_value_copied_to_another_account_or_field_does_not_open() -> None:
    ring = keyring(KEY_A)
    token = ring.seal("cw-token-123", label="account:3:api_token", register=False)
    for other in ("account:4:api_token", "account:3:user_token", "account:3:api_token "):
        with pytest.raises(SecretError, match="copied from another row"):
            ring.unseal(token, label=other, what="account 4 api_token")
    assert "cw-token-123" not in token


def test_every_configured_key_opens_and_the_first_seals() -> None:
    old = keyring(KEY_A).seal("s3cret", label="l", register=False)
    both = keyring(KEY_B, KEY_A)
    assert both.unseal(old, label="l", what="x", register=False) == "s3cret"
    rotated = both.reseal(old, label="l", what="x")
    assert rotated != old
    assert keyring(KEY_B).unseal(rotated, label="l", what="x", register=False) == "s3cret"
    with pytest.raises(SecretError):
        keyring(KEY_B).unseal(old, label="l", what="x")


def test_an_old_unbound_value_is_resealed_then_only_the_sealed_one_opens() -> None:
    ring = keyring(KEY_A)
    legacy = Fernet(KEY_A.encode()).encrypt(b"whsec-1").decode()
    with pytest.raises(SecretError, match="old, unbound format: run `transcriber migrate`"):
        ring.unseal(legacy, label="account:3:webhook_secret", what="account 3 webhook_secret")
    sealed = ring.reseal(legacy, label="account:3:webhook_secret", what="w")
    assert ring.unseal(sealed, label="account:3:webhook_secret", what="w") == "whsec-1"


@pytest.mark.parametrize("garbage", ["v2.", "v2.!!!", "v2." + "A" * 40, "v2.AAAA", ""])
def test_garbage_is_a_secret_error_never_a_crash(garbage: str) -> None:
    with pytest.raises(SecretError):
        keyring(KEY_A).unseal(garbage, label="l", what="x")
