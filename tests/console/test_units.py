"""The console's pure parts: the session signer and the SVG charts."""

from __future__ import annotations

import re

from cryptography.fernet import Fernet

from adapter.secrets import Keyring
from adapter.web.console.charts import Point, bars, columns
from adapter.web.console.session import KEY_LABEL, Session, SessionSigner, csrf_matches

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
    session = Session(csrf="abc123")
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
