"""Signature verification against fixed vectors (computed with `openssl dgst -sha256 -hmac`)."""

from __future__ import annotations

import pytest

from adapter.web.signing import SignatureError, sign, verify

BODY = b'{"event":"message_created","id":90817}'
STAMP = "1781601243"
SECRET_1 = b"chatwoot-webhook-secret-1"
SECRET_2 = b"second-secret-during-rotation"
SIG_1 = "sha256=aa17610b0e66e263bc1a01c9663bcf9a90abaac475b8fe43090153335b039418"
SIG_2 = "sha256=b2225cc2e4d00049c4a6534fdc459eefa6ba3451fd73a0256e4754aa2dd8a867"
NOW = 1781601243.0


def check(
    secrets: list[bytes],
    signature: str | None,
    timestamp: str | None = STAMP,
    body: bytes = BODY,
    now: float = NOW,
) -> None:
    verify(secrets, signature=signature, timestamp=timestamp, body=body, now=now)


def reason(*args: object, **kwargs: object) -> str:
    with pytest.raises(SignatureError) as info:
        check(*args, **kwargs)  # type: ignore[arg-type]
    return info.value.reason


def test_sign_matches_fixed_vectors() -> None:
    assert sign(SECRET_1, STAMP, BODY) == SIG_1
    assert sign(SECRET_2, STAMP, BODY) == SIG_2


def test_valid_signature_passes() -> None:
    check([SECRET_1], SIG_1)


def test_either_of_two_secrets_passes() -> None:
    check([SECRET_1, SECRET_2], SIG_1)
    check([SECRET_1, SECRET_2], SIG_2)
    assert reason([SECRET_1], SIG_2) == "mismatch"


@pytest.mark.parametrize(
    "body",
    [BODY + b" ", BODY.replace(b"90817", b"90818"), b"", BODY[:-1], BODY.upper()],
)
def test_tampered_body_fails(body: bytes) -> None:
    assert reason([SECRET_1], SIG_1, body=body) == "mismatch"


def test_signature_over_other_timestamp_fails() -> None:
    assert reason([SECRET_1], SIG_1, timestamp=str(int(STAMP) + 1), now=NOW + 1) == "mismatch"


@pytest.mark.parametrize("offset", [301, 3600, -301, -86400])
def test_old_and_future_timestamps_are_stale(offset: int) -> None:
    assert reason([SECRET_1], SIG_1, now=NOW + offset) == "stale"


@pytest.mark.parametrize("offset", [300, -300, 0, 120])
def test_window_edges_pass(offset: int) -> None:
    check([SECRET_1], SIG_1, now=NOW + offset)


@pytest.mark.parametrize(
    ("signature", "timestamp", "expected"),
    [
        (None, STAMP, "missing"),
        (SIG_1, None, "missing"),
        ("", STAMP, "missing"),
        (SIG_1.removeprefix("sha256="), STAMP, "malformed"),
        ("sha1=" + SIG_1[7:], STAMP, "malformed"),
        ("sha256=" + "zz" * 32, STAMP, "malformed"),
        ("sha256=" + "ab" * 31, STAMP, "malformed"),
        (SIG_1, "12.5", "malformed"),
        (SIG_1, "soon", "malformed"),
        (SIG_1, "１２３", "malformed"),  # noqa: RUF001 - full-width digits
        ("sha256=" + "a" * 5000, STAMP, "malformed"),
    ],
)
def test_missing_and_malformed_headers(
    signature: str | None, timestamp: str | None, expected: str
) -> None:
    assert reason([SECRET_1], signature, timestamp=timestamp) == expected


def test_uppercase_hex_is_accepted() -> None:
    check([SECRET_1], "sha256=" + SIG_1[7:].upper())


def test_no_secrets_never_passes() -> None:
    assert reason([], SIG_1) == "mismatch"
