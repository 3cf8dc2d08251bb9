"""redact: registries, patterns, structures, and the property that a secret never survives."""

from __future__ import annotations

import string
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.observability import redact
from adapter.observability.redact import (
    ATTACHMENT_URL,
    REDACTED,
    TRANSCRIPT,
    clear_registries,
    redact_obj,
    redact_text,
    register_secret,
    register_transcript,
)

SIGNED_ID = (
    "eyJfcmFpbHMiOnsibWVzc2FnZSI6IkJBaHBCZz09IiwiZXhwIjpudWxsLCJwdXIiOiJibG9iX2lkIn19"
    "--0123456789abcdef0123456789abcdef01234567"
)
ACTIVE_STORAGE_URL = (
    f"https://chat.example.com/rails/active_storage/blobs/redirect/{SIGNED_ID}/voice.ogg"
)


@pytest.fixture(autouse=True)
def _clean_registries() -> Iterator[None]:
    clear_registries()
    yield
    clear_registries()


def test_registered_secret_is_replaced_everywhere() -> None:
    register_secret("tok_ABCDEFGH12345")
    text = "a=tok_ABCDEFGH12345;b=tok_ABCDEFGH12345tok_ABCDEFGH12345"
    assert redact_text(text) == f"a={REDACTED};b={REDACTED}"


def test_short_values_are_not_registered() -> None:
    register_secret("abc1234")
    assert redact_text("abc1234 stays") == "abc1234 stays"


def test_stripped_and_url_quoted_forms_are_registered() -> None:
    register_secret("  p@ss/word+with=stuff  ")
    assert "p@ss/word+with=stuff" not in redact_text("x p@ss/word+with=stuff y")
    assert "p%40ss%2Fword%2Bwith%3Dstuff" not in redact_text("q=p%40ss%2Fword%2Bwith%3Dstuff")


def test_values_inside_markers_are_refused() -> None:
    register_secret("redacted")  # would re-match its own replacement
    assert redact_text("a redacted line") == "a redacted line"


def test_overlapping_secrets_are_merged() -> None:
    register_secret("AAAABBBBCCCC")
    register_secret("BBBBCCCCDDDD")
    out = redact_text("xxAAAABBBBCCCCDDDDyy")
    assert out == f"xx{REDACTED}yy"


def test_registry_is_bounded_lru(monkeypatch: pytest.MonkeyPatch) -> None:
    small = redact._LiteralRegistry(3, REDACTED)
    monkeypatch.setattr(redact, "_secrets", small)
    for value in ("secret-one-1", "secret-two-2", "secret-three-3"):
        register_secret(value)
    register_secret("secret-one-1")  # refreshed: now the most recent
    register_secret("secret-four-4")  # evicts secret-two-2
    assert len(small) == 3
    assert redact_text("secret-two-2") == "secret-two-2"
    assert redact_text("secret-one-1 secret-four-4") == f"{REDACTED} {REDACTED}"


def test_transcript_and_its_sentences_are_replaced() -> None:
    register_transcript("Hello, I want to cancel my order. It arrived broken yesterday!")
    assert redact_text("error: It arrived broken yesterday! (422)") == f"error: {TRANSCRIPT} (422)"
    whole = "Hello, I want to cancel my order. It arrived broken yesterday!"
    assert redact_text(f"<{whole}>") == f"<{TRANSCRIPT}>"


@pytest.mark.parametrize(
    ("text", "forbidden"),
    [
        # built at run time so no key-shaped literal sits in the repository
        ("key sk-proj-" + "abcdefghijklmnopqrstuvwxyz0123 here", "abcdefghijklmnopqrstuvwxyz0123"),
        ("Authorization: Bearer abcdef123456789", "abcdef123456789"),
        ("headers {'api_access_token': 'chatwoottoken99'}", "chatwoottoken99"),
        ('{"api_access_token":"two words"}', "two words"),
        ('log "{\\"api_access_token\\": \\"escapedtok\\"}"', "escapedtok"),
        ("[(b'api_access_token', b'bytestoken123')]", "bytestoken123"),
        ("X-Chatwoot-Signature: sha256=" + "ab" * 32, "ab" * 32),
        ("sig sha256=" + "cd" * 32, "cd" * 32),
        ("OPENAI_API_KEY=whatever-value", "whatever-value"),
        ("password=hunter2hunter2", "hunter2hunter2"),
        ("gAAAAABlZ1234567890abcdefghijklmnopqrstuvwxyz== ok", "gAAAAABlZ1234567890"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcDEF_-123", "eyJzdWIiOiIxIn0"),
        ("https://s3.example.com/b/k.ogg?X-Amz-Signature=deadbeef&a=1", "deadbeef"),
        ("redis://:hunter2pass@redis:6379/0", "hunter2pass"),
        ('"POST /webhooks/chatwoot/1?token=querysecret HTTP/1.1" 202', "querysecret"),
        ("GET " + ACTIVE_STORAGE_URL + "?disposition=inline", "eyJfcmFpbHMiOnsi"),
        ("path /rails/active_storage/blobs/" + SIGNED_ID + "/a.ogg", "0123456789abcdef"),
        ("bare " + SIGNED_ID, "0123456789abcdef01234567"),
    ],
)
def test_patterns(text: str, forbidden: str) -> None:
    out = redact_text(text)
    assert forbidden not in out, out


@pytest.mark.parametrize(
    "text",
    [
        # the words the issue saw masked: prose after "name:", not values
        "TRANSCRIBER_ENCRYPTION_KEYS: key 1 is not a valid Fernet key",
        "invalid account: api_token: Value error, must not be empty",
        "webhook_secret: missing; token: expired.",
        "Basic authentication failed",
    ],
)
def test_words_after_a_secret_name_are_prose(text: str) -> None:
    assert redact_text(text) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("password=hunter", "password=[redacted]"),  # an assignment, whatever its value
        ("api_key: hunter2", "api_key: [redacted]"),
        ("token: AbCdEfGhIj", "token: [redacted]"),  # mixed case: not a word
        ("token: 'expired'", "token: '[redacted]'"),  # quoted: a value
        ("secret: abcdefghijklmnopqrstuvwxyz", "secret: [redacted]"),  # longer than a word
    ],
)
def test_values_after_a_secret_name_are_masked(text: str, masked: str) -> None:
    assert redact_text(text) == masked


def test_of_a_url_only_its_credentials_are_secret() -> None:
    register_secret("redis://:pass-word-1234@redis.internal:6379/0")
    register_secret("https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.io/5")
    register_secret("redis://127.0.0.1:6379/4")  # nothing secret in it
    text = "cannot reach Redis at redis://redis.internal:6379 (pass-word-1234) or 127.0.0.1:6379"
    assert redact_text(text) == (
        "cannot reach Redis at redis://redis.internal:6379 ([redacted]) or 127.0.0.1:6379"
    )
    assert redact_text("key 0123456789abcdef0123456789abcdef") == f"key {REDACTED}"


def test_urls_keep_their_path_and_attachment_urls_become_a_marker() -> None:
    assert redact_text("see https://chat.example.com/app/x?a=1#f.") == (
        "see https://chat.example.com/app/x"
    )
    assert redact_text(f"fetch {ACTIVE_STORAGE_URL} now") == f"fetch {ATTACHMENT_URL} now"


def test_innocent_text_is_untouched() -> None:
    text = "webhook accepted account 12 state=queued content_type=audio/ogg took 812 ms"
    assert redact_text(text) == text
    assert redact_text("") == ""


def test_redact_obj_walks_structures() -> None:
    register_secret("registered-secret-value")
    obj = {
        "account_id": 7,
        "headers": {
            "Authorization": "Bearer x",
            "X-Chatwoot-Signature": "sha256=1",
            "accept": "*/*",
        },
        "apiKey": "k",
        "encryption_keys": ["a", "b"],
        "token": None,
        "content_type": "audio/ogg",
        "content": "Customer typed this",
        "transcript": {"text": "spoken words"},
        "note": "the private note",
        "items": ["registered-secret-value", 3, 1.5, True, b"\x00\x01"],
        "tuple": ("sk-abcdefghijklmnopqrstuvwx",),
    }
    out = redact_obj(obj)
    assert out == {
        "account_id": 7,
        "headers": {"Authorization": REDACTED, "X-Chatwoot-Signature": REDACTED, "accept": "*/*"},
        "apiKey": REDACTED,
        "encryption_keys": REDACTED,
        "token": None,
        "content_type": "audio/ogg",
        "content": TRANSCRIPT,
        "transcript": TRANSCRIPT,
        "note": TRANSCRIPT,
        "items": [REDACTED, 3, 1.5, True, "[2 bytes]"],
        "tuple": [REDACTED],
    }
    assert obj["apiKey"] == "k"  # a copy: the input is not modified


def test_redact_obj_survives_cycles_and_odd_objects() -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no")

    loop: dict[str, object] = {"a": 1}
    loop["self"] = loop
    out = redact_obj({"loop": loop, "broken": Broken(), 5: "five"})
    assert out == {"loop": {"a": 1, "self": "[...]"}, "broken": REDACTED, "5": "five"}


TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_.+/=~"


@settings(max_examples=300, deadline=None)
@given(
    secret=st.text(alphabet=TOKEN_ALPHABET, min_size=8, max_size=64),
    before=st.text(max_size=200),
    after=st.text(max_size=200),
    others=st.lists(st.text(alphabet=TOKEN_ALPHABET, min_size=8, max_size=40), max_size=5),
)
def test_registered_secret_never_survives(
    secret: str, before: str, after: str, others: list[str]
) -> None:
    for other in others:
        register_secret(other)
    register_secret(secret)
    text = before + secret + after + before + secret
    assert secret not in redact_text(text)
    assert secret not in str(redact_obj({"msg": text, "list": [text]}))
