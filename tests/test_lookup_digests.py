"""``Keyring.digest``/``digests``: keyed lookup digests (HMAC-SHA256 under a key derived from
each encryption key), apart per purpose, one per configured key, never a plain hash."""

from __future__ import annotations

import hashlib

from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st

from adapter.secrets import DIGEST_CHARS, Keyring

KEY_A, KEY_B = Fernet.generate_key().decode(), Fernet.generate_key().decode()


@given(st.text(max_size=200))
def test_a_digest_is_keyed_stable_and_hex(value: str) -> None:
    ring = Keyring.from_keys([KEY_A])
    digest = ring.digest(value, purpose="stream_token")
    assert digest == Keyring.from_keys([KEY_A]).digest(value, purpose="stream_token")
    assert len(digest) == DIGEST_CHARS and int(digest, 16) >= 0
    assert digest != Keyring.from_keys([KEY_B]).digest(value, purpose="stream_token")
    assert digest != ring.digest(value, purpose="another_purpose")
    assert digest != hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def test_every_configured_key_gives_its_digest_the_first_first() -> None:
    both = Keyring.from_keys([KEY_B, KEY_A])
    value = "st-" + "x" * 30
    assert both.digests(value, purpose="stream_token") == (
        Keyring.from_keys([KEY_B]).digest(value, purpose="stream_token"),
        Keyring.from_keys([KEY_A]).digest(value, purpose="stream_token"),
    )
    assert (
        both.digest(value, purpose="stream_token") == both.digests(value, purpose="stream_token")[0]
    )
    assert value not in repr(both)
