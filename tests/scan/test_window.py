"""The window of a scan (``adapter.scan.window``): watermark, overlap, grace, ``--since``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapter.scan.window import (
    FIRST_LOOKBACK,
    Window,
    parse_when,
    reconcile_grace,
    reconcile_window,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_a_scan_starts_at_the_watermark_less_the_overlap_and_ends_before_now() -> None:
    window = reconcile_window(
        watermark=NOW - timedelta(minutes=5),
        added_at=NOW - timedelta(days=30),
        now=NOW,
        overlap=300,
        grace=30,
    )
    assert window == Window(NOW - timedelta(minutes=10), NOW - timedelta(seconds=30))


def test_the_first_scan_starts_when_the_account_was_added_at_most_a_day_ago() -> None:
    recent = reconcile_window(
        watermark=None, added_at=NOW - timedelta(hours=2), now=NOW, overlap=60, grace=0
    )
    assert recent.since == NOW - timedelta(hours=2, minutes=1)
    old = reconcile_window(
        watermark=None, added_at=NOW - timedelta(days=90), now=NOW, overlap=0, grace=0
    )
    assert old.since == NOW - FIRST_LOOKBACK


@pytest.mark.parametrize(("interval", "grace"), [(300, 30), (60, 15), (4, 1), (0, 30)])
def test_the_grace_is_thirty_seconds_or_a_quarter_of_a_short_interval(
    interval: float, grace: float
) -> None:
    assert reconcile_grace(interval) == grace


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", NOW - timedelta(days=30)),
        ("12h", NOW - timedelta(hours=12)),
        ("45m", NOW - timedelta(minutes=45)),
        ("90s", NOW - timedelta(seconds=90)),
        ("2w", NOW - timedelta(weeks=2)),
        (" 2D ", NOW - timedelta(days=2)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T08:30:00Z", datetime(2026, 11, 1, 8, 30, tzinfo=UTC)),
        ("2026-11-01T08:30:00+02:00", datetime(2026, 11, 1, 6, 30, tzinfo=UTC)),
    ],
)
def test_when_is_a_date_a_time_or_a_duration(text: str, expected: datetime) -> None:
    assert parse_when(text, NOW) == expected


@pytest.mark.parametrize(
    "text", ["", "yesterday", "30", "-3d", "3y", "2026-13-01", "1e9d", "\u0663d"]
)
def test_a_bad_when_names_both_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"ISO 8601.*duration"):
        parse_when(text, NOW)


def test_a_duration_beyond_the_calendar_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="before the year 1"):
        parse_when("999999w", NOW)


def test_a_window_needs_aware_times_and_knows_when_it_is_empty() -> None:
    with pytest.raises(ValueError, match="timezone"):
        Window(datetime(2026, 1, 1), NOW)
    assert Window(NOW, NOW).empty
    assert not Window(NOW - timedelta(seconds=1), NOW).empty
