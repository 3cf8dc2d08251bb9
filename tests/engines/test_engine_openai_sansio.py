"""The OpenAI engine's pure parts: Retry-After, status mapping, response parsing."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter.engines.openai_engine import (
    is_gpt_model,
    map_status_error,
    parse_retry_after,
    parse_transcription,
    safe_url,
)
from adapter.errors import EngineRejected, EngineUnavailable, RateLimited

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": " 0.5 "}, 0.5),
        ({"Retry-After": "-3"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "nan"}, None),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After": "soon", "retry-after-ms": "20"}, 0.02),
        ({"Retry-After": "3", "retry-after-ms": "20"}, 3.0),
        (
            {
                "Retry-After": format_datetime(
                    datetime(2025, 1, 2, 3, 5, 5, tzinfo=UTC), usegmt=True
                )
            },
            60.0,
        ),
        ({"Retry-After": format_datetime(datetime(2024, 1, 1, tzinfo=UTC), usegmt=True)}, 0.0),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, now=NOW) == expected


@pytest.mark.parametrize(
    ("status", "code", "error", "reason"),
    [
        (400, None, EngineRejected, "bad_request"),
        (401, "invalid_api_key", EngineRejected, "unauthorized"),
        (403, None, EngineRejected, "forbidden"),
        (404, "model_not_found", EngineRejected, "not_found"),
        (413, None, EngineRejected, "too_large"),
        (415, None, EngineRejected, "unsupported_format"),
        (422, None, EngineRejected, "unprocessable"),
        (418, None, EngineRejected, "http_418"),
        (429, "rate_limit_exceeded", RateLimited, "rate_limited"),
        (429, "insufficient_quota", EngineRejected, "insufficient_quota"),
        (408, None, EngineUnavailable, "engine_unavailable"),
        (500, None, EngineUnavailable, "engine_unavailable"),
        (502, None, EngineUnavailable, "engine_unavailable"),
        (504, None, EngineUnavailable, "engine_unavailable"),
    ],
)
def test_map_status_error(status: int, code: str | None, error: type, reason: str) -> None:
    mapped = map_status_error(status, headers={}, code=code)
    assert type(mapped) is error
    assert mapped.reason == reason
    assert str(status) in str(mapped)


def test_insufficient_quota_as_type_only() -> None:
    mapped = map_status_error(429, headers={}, error_type="insufficient_quota")
    assert isinstance(mapped, EngineRejected)
    assert mapped.reason == "insufficient_quota"


def test_rate_limited_reads_retry_after() -> None:
    mapped = map_status_error(429, headers={"Retry-After": "12"}, code="rate_limit_exceeded")
    assert isinstance(mapped, RateLimited)
    assert mapped.retry_after == 12.0


_SHAPE = re.compile(
    r"openai answered HTTP 400(?: \([A-Za-z0-9_.\-, ]+\))?(?: about '[A-Za-z0-9_.\-]+')?"
)


@given(code=st.text(max_size=80), error_type=st.text(max_size=80), param=st.text(max_size=80))
def test_status_messages_hold_only_plain_identifiers(
    code: str, error_type: str, param: str
) -> None:
    message = str(map_status_error(400, headers={}, code=code, error_type=error_type, param=param))
    assert _SHAPE.fullmatch(message), message


def test_key_like_codes_are_dropped() -> None:
    key = "sk-" + "abcdEFGH1234" * 4
    message = str(map_status_error(400, headers={}, code=key, error_type="x" * 40, param=key))
    assert key not in message
    assert "x" * 40 not in message  # a long opaque token


@pytest.mark.parametrize(
    ("body", "content_type", "text", "language", "duration"),
    [
        (
            b'{"text": " hi ", "language": "english", "duration": 2}',
            "application/json",
            "hi",
            "english",
            2.0,
        ),
        (b"plain words\n", "text/plain", "plain words", None, None),
        (b"plain words", None, "plain words", None, None),
        (b'{"text": "x"}', "application/json; charset=utf-8", "x", None, None),
        (b'{"text": "x", "duration": -1}', "application/json", "x", None, None),
        (b'{"text": "x", "duration": true}', "application/json", "x", None, None),
        (b'{"text": "x", "language": "  "}', "application/json", "x", None, None),
        (b"{not json", "text/plain", "{not json", None, None),
        (b'{"text": "x", "segments": "nope"}', "application/json", "x", None, None),
    ],
)
def test_parse_transcription(
    body: bytes,
    content_type: str | None,
    text: str,
    language: str | None,
    duration: float | None,
) -> None:
    parsed = parse_transcription(body, content_type)
    assert (parsed.text, parsed.language, parsed.duration) == (text, language, duration)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{broken", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"text": 3}', "application/json"),
        (b"<html><body>Bad gateway</body></html>", "text/plain"),
        (b"anything", "text/html; charset=utf-8"),
    ],
)
def test_parse_transcription_refuses_non_transcripts(body: bytes, content_type: str) -> None:
    with pytest.raises(EngineUnavailable):
        parse_transcription(body, content_type)


@given(body=st.binary(max_size=300), content_type=st.one_of(st.none(), st.text(max_size=40)))
def test_parse_transcription_never_raises_anything_else(
    body: bytes, content_type: str | None
) -> None:
    try:
        parsed = parse_transcription(body, content_type)
    except EngineUnavailable:
        return
    assert isinstance(parsed.text, str)
    assert parsed.duration is None or parsed.duration >= 0


def test_safe_url_strips_credentials_and_query() -> None:
    assert (
        safe_url("https://user:pw@llm.example.test:8443/v1?api-key=s3cret#frag")
        == "https://llm.example.test:8443/v1"
    )


@pytest.mark.parametrize(
    ("model", "gpt"),
    [
        ("whisper-1", False),
        ("gpt-4o-transcribe", True),
        ("gpt-4o-mini-transcribe", True),
        ("Systran/faster-whisper-small", False),
    ],
)
def test_is_gpt_model(model: str, gpt: bool) -> None:
    assert is_gpt_model(model) is gpt
