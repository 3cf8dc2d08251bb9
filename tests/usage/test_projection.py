"""The month's projection: spent so far plus the last week's daily rate for the days left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.usage.projection import LOOKBACK_DAYS, lookback, project

usd = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)


def test_the_lookback_is_the_last_seven_days() -> None:
    now = datetime(2026, 3, 3, 10, tzinfo=UTC)
    assert lookback(now) == (datetime(2026, 2, 24, 10, tzinfo=UTC), 7.0)
    assert LOOKBACK_DAYS == 7


def test_mid_month_by_hand() -> None:
    # 16 June 00:00: 15 days left of June's 30
    p = project(datetime(2026, 6, 16, tzinfo=UTC), 10.0, 7.0, budget_usd=30.0)
    assert p.month == "2026-06"
    assert p.daily_usd == pytest.approx(1.0)
    assert p.days_left == pytest.approx(15.0)
    assert p.projected_usd == pytest.approx(25.0)
    assert (p.spent_usd, p.budget_usd) == (10.0, 30.0)


def test_the_last_day_of_december_projects_to_new_years_day() -> None:
    p = project(datetime(2026, 12, 31, 12, tzinfo=UTC), 40.0, 14.0)
    assert p.month == "2026-12"
    assert p.days_left == pytest.approx(0.5)
    assert p.projected_usd == pytest.approx(41.0)
    assert p.budget_usd is None


def test_the_first_moment_of_a_month_projects_a_whole_month() -> None:
    p = project(datetime(2027, 2, 1, tzinfo=UTC), 0.0, 7.0)
    assert p.month == "2027-02"
    assert p.days_left == pytest.approx(28.0)
    assert p.projected_usd == pytest.approx(28.0)


@settings(max_examples=150, deadline=None)
@given(
    now=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    spent=usd,
    recent=usd,
)
def test_a_projection_is_a_straight_line_to_the_months_end(
    now: datetime, spent: float, recent: float
) -> None:
    p = project(now, spent, recent)
    assert p.month == now.strftime("%Y-%m")
    assert 0 < p.days_left <= 31
    assert now + timedelta(days=p.days_left) - timedelta(microseconds=10) < datetime(
        now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC
    ) + timedelta(microseconds=10)
    assert p.daily_usd == pytest.approx(recent / 7)
    assert p.projected_usd == pytest.approx(spent + p.daily_usd * p.days_left)
    assert p.projected_usd >= spent
