"""The console's pure parts: the session signer, where sign-in leads, the sign-in throttle,
the SVG charts, the filters that put figures into words, and the kinds-to-mask field."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from itsdangerous import URLSafeTimedSerializer

from adapter.secrets import Keyring
from adapter.web.console.accounts import kinds_from_text
from adapter.web.console.auth import safe_next
from adapter.web.console.charts import Point, bars, columns
from adapter.web.console.render import clock, count, done, language
from adapter.web.console.session import (
    KEY_LABEL,
    MAX_AGE_SECONDS,
    SessionSigner,
    SignedSession,
    csrf_matches,
)
from adapter.web.console.throttle import SignInThrottle

KEY = Keyring.from_keys([Fernet.generate_key().decode()]).derive_key(KEY_LABEL)


def test_a_session_reads_back_and_nothing_else_does() -> None:
    signer = SessionSigner(KEY, "token-one")
    cookie, session = signer.issue()
    assert signer.read(cookie) == session and len(session.csrf) >= 40
    assert "token-one" not in cookie
    assert signer.read(cookie[:-1] + ("A" if cookie[-1] != "A" else "B")) is None
    assert signer.read(None) is None and signer.read("") is None and signer.read("x" * 5000) is None
    assert SessionSigner(KEY, "token-two").read(cookie) is None  # the admin token changed
    other_key = Keyring.from_keys([Fernet.generate_key().decode()]).derive_key(KEY_LABEL)
    assert SessionSigner(other_key, "token-one").read(cookie) is None  # the keys changed
    assert SessionSigner(KEY, "token-one", max_age=-1).read(cookie) is None  # expired


def test_derived_keys_differ_by_label_and_from_the_key() -> None:
    key = Fernet.generate_key()
    ring = Keyring.from_keys([key.decode()])
    assert ring.derive_key(KEY_LABEL) != ring.derive_key("another purpose")
    assert ring.derive_key(KEY_LABEL) == ring.derive_key(KEY_LABEL)
    assert key not in ring.derive_key(KEY_LABEL)


def test_tokens_compare_exactly() -> None:
    signer = SessionSigner(KEY, "the-admin-token")
    assert signer.token_matches("the-admin-token")
    for wrong in ("", "the-admin-toke", "the-admin-token ", "THE-ADMIN-TOKEN", "é"):
        assert not signer.token_matches(wrong)
    session = SignedSession("abc123", "sid", datetime.now(UTC) + timedelta(hours=1))
    assert csrf_matches(session, "abc123")
    for wrong in (None, "", "abc12", "abc1234", "ABC123", "abc123é"):
        assert not csrf_matches(session, wrong)


def test_charts_escape_labels_and_describe_themselves() -> None:
    points = [Point("2024-05-01", 3.0), Point("<b>&</b>", 0.0), Point("2024-05-03", 12.5)]
    svg = str(columns("c1", 'Minutes "per" day', points))
    assert svg.count("<rect") == 3
    assert "<b>" not in svg and "&lt;b&gt;&amp;&lt;/b&gt;" in svg
    assert 'role="img"' in svg and 'aria-labelledby="c1-title c1-desc"' in svg
    assert "Highest 12.5 (2024-05-03); total 15.5 over 3 bars." in svg
    assert "Minutes &#34;per&#34; day" in svg or "Minutes &quot;per&quot; day" in svg
    heights = [float(h) for h in re.findall(r'height="([0-9.]+)"><title>', svg)]
    assert heights[1] == 0 and heights[2] > heights[0] > 0
    empty = str(bars("c2", "Languages", []))
    assert "No data in this period." in empty and "<rect" not in empty
    assert str(bars("c3", "L", [Point("en", 0.0)])).count("<rect") == 1


# ─── session ids ─────────────────────────────────────────────────────────────────────────────


def test_a_session_has_an_id_and_its_cookies_expiry() -> None:
    signer = SessionSigner(KEY, "token-one")
    cookie, session = signer.issue()
    assert len(session.sid) >= 32 and session.sid != session.csrf
    assert signer.issue()[1].sid != session.sid
    left = (session.expires_at - datetime.now(UTC)).total_seconds()
    assert MAX_AGE_SECONDS - 5 < left <= MAX_AGE_SECONDS
    assert signer.read(cookie) == session


def test_a_cookie_without_a_session_id_is_not_a_session() -> None:
    """Cookies issued before session ids (they could not be signed out) are refused."""
    signer = SessionSigner(KEY, "token-one")
    cookie, _ = signer.issue()
    serializer = URLSafeTimedSerializer(KEY, salt="console-session")
    data = serializer.loads(cookie)
    for payload in (
        {"a": data["a"], "c": data["c"]},
        {**data, "s": ""},
        {**data, "s": 5},
        {**data, "s": "x" * 65},
    ):
        assert signer.read(serializer.dumps(payload)) is None
    assert signer.read(serializer.dumps(data)) is not None


# ─── where to go after signing in ────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "/console"),
        ("", "/console"),
        ("/console", "/console"),
        ("/console/", "/console/"),
        ("/console/usage?days=7", "/console/usage?days=7"),
        ("/console/transcriptions/12", "/console/transcriptions/12"),
        ("/consolex", "/console"),
        ("/console-x/y", "/console"),
        ("/console/../x", "/console"),
        ("/console/%2e%2e/x", "/console"),
        ("/console/%2E%2e", "/console"),
        ("/console/x/%2e%2e/%2e%2e/y", "/console"),
        ("/console/./x", "/console"),
        ("/console//x", "/console"),
        ("/console/%2f/x", "/console"),
        ("//evil.example/console", "/console"),
        ("///evil.example", "/console"),
        ("/%2Fevil.example", "/console"),
        ("https://evil.example/console", "/console"),
        ("http:/console", "/console"),
        ("/console\\evil", "/console"),
        ("/console/%5cevil", "/console"),
        ("/console/%00", "/console"),
        ("/console/%0d%0aSet-Cookie:x", "/console"),
        ("/console/é", "/console"),
        ("console/accounts", "/console"),
        ("/console/sign-in", "/console"),
        ("/console/sign-in?next=/console/x", "/console"),
        ("/console/" + "a" * 600, "/console"),
    ],
)
def test_safe_next_goes_only_to_console_pages(given: str | None, expected: str) -> None:
    assert safe_next(given) == expected


# ─── the sign-in throttle ────────────────────────────────────────────────────────────────────


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_five_failures_in_the_window_refuse_until_it_passes() -> None:
    ticks = Ticks()
    throttle = SignInThrottle(clock=ticks)
    for n in range(5):
        assert throttle.retry_after("10.0.0.1") is None, n
        throttle.failed("10.0.0.1")
        ticks.now += 60
    # failures at 1000, 1060, …, 1240; now 1300: the first leaves the window at 1900
    assert throttle.retry_after("10.0.0.1") == pytest.approx(600.0)
    assert throttle.retry_after("10.0.0.2") is None  # another address counts for itself
    ticks.now = 1899.0
    assert throttle.retry_after("10.0.0.1") == pytest.approx(1.0)
    ticks.now = 1900.0  # the oldest failure is 15 minutes old: four are left
    assert throttle.retry_after("10.0.0.1") is None
    throttle.failed("10.0.0.1")  # a fifth within the window again
    assert throttle.retry_after("10.0.0.1") == pytest.approx(60.0)
    ticks.now += 15 * 60
    assert throttle.retry_after("10.0.0.1") is None
    assert len(throttle) == 0  # expired failures are forgotten


def test_a_success_forgets_the_failures() -> None:
    ticks = Ticks()
    throttle = SignInThrottle(clock=ticks)
    for _ in range(4):
        throttle.failed("10.0.0.1")
    throttle.succeeded("10.0.0.1")
    for _ in range(4):
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") is None
    throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == pytest.approx(15 * 60.0)


def test_the_throttle_remembers_a_bounded_number_of_addresses() -> None:
    ticks = Ticks()
    throttle = SignInThrottle(limit=2, max_clients=3, clock=ticks)
    for address in ("a", "b", "c", "d"):
        throttle.failed(address)
        throttle.failed(address)
        ticks.now += 1
    assert len(throttle) == 3
    assert throttle.retry_after("a") is None  # the least recent was forgotten
    assert all(throttle.retry_after(x) for x in ("b", "c", "d"))
    with pytest.raises(ValueError, match="positive"):
        SignInThrottle(limit=0)


@pytest.mark.parametrize(
    ("progress", "text"),
    [
        ({"percent": 42.9, "chunks_done": 3, "chunks_total": 7}, "42 % · 3 of 7 chunks"),
        ({"percent": 99.96, "chunks_done": 6, "chunks_total": 7}, "99 % · 6 of 7 chunks"),
        ({"percent": 100.0, "chunks_done": 1, "chunks_total": 1}, "100 % · 1 of 1 chunk"),
        ({"percent": 0.0, "chunks_done": 0, "chunks_total": 0}, "0 % · not split into chunks yet"),
        ({}, "0 % · not split into chunks yet"),
    ],
)
def test_progress_in_words(progress: dict[str, float], text: str) -> None:
    assert done(progress) == text  # rounded down: never 100 % before it is done


def test_times_languages_and_counts_for_people() -> None:
    assert [clock(s) for s in (0, 4.99, 65, 599.5, 3725.2)] == [
        "0:00",
        "0:04",
        "1:05",
        "9:59",
        "1:02:05",
    ]
    assert clock(None) == clock(-1) == clock(float("nan")) == clock(float("inf")) == "—"
    assert language("fr") == "French (fr)" and language("es") == "Spanish (es)"
    assert language("xx") == "xx" and language(None) == language("") == "—"
    assert count(1_840) == "1,840" and count(0) == "0" and count(None) == "—"


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("", ""),
        (" cards ", "cards"),
        ("cards, email", "cards,email"),
        ("cards email\tphone", "cards,email,phone"),
        ("cards,,iban,", "cards,iban"),
        ("off", "off"),
    ],
)
def test_kinds_from_text(text: str, kinds: str) -> None:
    assert kinds_from_text(text) == kinds
