"""httputil: Retry-After in every spelling servers use, and URLs made safe to show."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter.httputil import INVALID_URL, MAX_RETRY_AFTER, origin, retry_after, safe_url

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()


def _http_date(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": " 0.5 "}, 0.5),
        ({"RETRY-AFTER": "12"}, 12.0),
        ({"Retry-After": "-3"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": "1e12"}, MAX_RETRY_AFTER),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "nan"}, None),
        ({"Retry-After": "soon", "retry-after-ms": "20"}, 0.02),
        ({"Retry-After": "3", "retry-after-ms": "20"}, 3.0),
        ({"Retry-After": _http_date(datetime(2025, 1, 2, 3, 5, 5, tzinfo=UTC))}, 60.0),
        ({"Retry-After": _http_date(datetime(2024, 1, 1, tzinfo=UTC))}, 0.0),
        ({"Retry-After": _http_date(datetime(2030, 1, 1, tzinfo=UTC))}, MAX_RETRY_AFTER),
        ({"Retry-After": "Thu, 02 Jan 2025 03:05:05 -0000"}, None),  # no time zone
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(headers, now=NOW) == expected


def test_retry_after_reads_httpx_headers() -> None:
    headers = httpx.Response(429, headers={"Retry-After": "9"}).headers
    assert retry_after(headers) == 9.0


def test_retry_after_measures_dates_from_now_by_default() -> None:
    waited = retry_after({"Retry-After": _http_date(datetime.now(UTC).replace(year=2100))})
    assert waited == MAX_RETRY_AFTER


@given(value=st.text(max_size=40), millis=st.one_of(st.none(), st.text(max_size=20)))
def test_retry_after_is_always_none_or_in_range(value: str, millis: str | None) -> None:
    headers = (
        {"Retry-After": value}
        if millis is None
        else {"Retry-After": value, "retry-after-ms": millis}
    )
    seconds = retry_after(headers, now=NOW)
    assert seconds is None or 0.0 <= seconds <= MAX_RETRY_AFTER


@pytest.mark.parametrize(
    ("url", "safe", "bare"),
    [
        (
            "https://user:pw@llm.example.test:8443/v1?api-key=s3cret#frag",
            "https://llm.example.test:8443/v1",
            "https://llm.example.test:8443",
        ),
        ("redis://:hunter2pass@redis:6379/0", "redis://redis:6379/0", "redis://redis:6379"),
        ("http://[::1]:3000/api?x=1", "http://[::1]:3000/api", "http://[::1]:3000"),
        ("https://chat.example.com", "https://chat.example.com", "https://chat.example.com"),
        ("file:///etc/passwd", "file:///etc/passwd", "file://?"),
        ("no scheme at all", "no scheme at all", "?://?"),
        ("http://[::1/oops", INVALID_URL, INVALID_URL),
    ],
)
def test_safe_url_and_origin(url: str, safe: str, bare: str) -> None:
    assert safe_url(url) == safe
    assert safe_url(url, path=False) == bare
    assert origin(url) == bare


def test_origin_of_an_httpx_url() -> None:
    url = httpx.URL("https://storage.example.test/bucket/key.ogg?X-Amz-Signature=abc")
    assert origin(url) == "https://storage.example.test"


@given(
    user=st.text(alphabet="abcXYZ019-_.~", min_size=1, max_size=12),
    secret=st.text(alphabet="abcXYZ019-_.~", min_size=6, max_size=24),
    path=st.text(alphabet="pqr/", max_size=12),
)
def test_credentials_query_and_fragment_never_survive(user: str, secret: str, path: str) -> None:
    url = f"https://{user}:{secret}@host.example.test/{path}?token={secret}#{secret}"
    assert safe_url(url) == f"https://host.example.test/{path}"
    assert origin(url) == "https://host.example.test"
