"""Budgets without I/O: the levels, what fits, the thresholds crossed, and calendar months in
UTC (December to January included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.usage.budget import (
    EPSILON_USD,
    budget_status,
    crossed,
    fits,
    has_budget,
    month_of,
    month_start,
    next_month_start,
)

usd = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
budgets = st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-11)), timezone(timedelta(hours=14))]),
)


@pytest.mark.parametrize("budget", [None, 0.0, -5.0])
def test_without_a_budget_everything_fits_and_nothing_alerts(budget: float | None) -> None:
    assert not has_budget(budget)
    status = budget_status(budget, 1e9)
    assert (status.level, status.fraction, status.budget_usd) == ("none", None, None)
    assert status.spent_usd == 1e9
    assert fits(budget, 1e9, 1e9)
    assert crossed(budget, 1e9) == []


@pytest.mark.parametrize(
    ("spent", "level", "thresholds"),
    [
        (0.0, "ok", []),
        (7.99, "ok", []),
        (8.0, "warning", [80]),
        (9.99, "warning", [80]),
        (10.0, "exhausted", [80, 100]),
        (25.0, "exhausted", [80, 100]),
    ],
)
def test_levels_and_thresholds_of_a_10_usd_budget(
    spent: float, level: str, thresholds: list[int]
) -> None:
    status = budget_status(10.0, spent)
    assert status.level == level
    assert status.fraction == pytest.approx(spent / 10.0)
    assert crossed(10.0, spent) == thresholds


def test_what_fits_in_a_10_usd_budget() -> None:
    assert fits(10.0, 0.0, 10.0)  # exactly the budget
    assert fits(10.0, 9.0, 1.0)
    assert not fits(10.0, 9.0, 1.01)  # a long recording that would cross it: refused before
    assert not fits(10.0, 10.0, 0.0)  # spent: even a free one is refused
    assert not fits(10.0, 12.0, 0.0)
    assert fits(10.0, 0.0, 0.0)
    # thousands of tiny costs summed in floats still reach the budget
    assert not fits(0.006, sum([0.000006] * 1000), 0.0)


@settings(max_examples=200, deadline=None)
@given(budget=budgets, committed=usd, cost=usd)
def test_fits_never_admits_what_passes_the_budget(
    budget: float, committed: float, cost: float
) -> None:
    if fits(budget, committed, cost):
        assert committed + cost <= budget + EPSILON_USD
        assert committed < budget
        assert budget_status(budget, committed).level != "exhausted"
    if committed + cost <= budget - EPSILON_USD:
        assert fits(budget, committed, cost)  # and refuses nothing that fits


@settings(max_examples=100, deadline=None)
@given(budget=budgets, spent=usd)
def test_crossed_agrees_with_the_level_away_from_the_edges(budget: float, spent: float) -> None:
    level = budget_status(budget, spent).level
    thresholds = crossed(budget, spent)
    assert thresholds in ([], [80], [80, 100])
    margin = 1e-6
    if spent >= budget * (1 + margin):
        assert (level, thresholds) == ("exhausted", [80, 100])
    elif budget * 0.8 * (1 + margin) <= spent <= budget * (1 - margin):
        assert (level, thresholds) == ("warning", [80])
    elif spent <= budget * 0.8 * (1 - margin):
        assert (level, thresholds) == ("ok", [])


@pytest.mark.parametrize(
    ("budget", "spent"),
    [
        (10.0, 10.0 - EPSILON_USD / 2),  # exhausted, refused, yet no "spent" alert
        (1000.0, 1000.0 - 5 * EPSILON_USD),  # "spent" alert, yet still admitted
    ],
)
def test_the_100_percent_alert_matches_the_exhausted_level(budget: float, spent: float) -> None:
    exhausted = budget_status(budget, spent).level == "exhausted"
    assert (100 in crossed(budget, spent)) == exhausted
    assert fits(budget, spent, 0.0) == (not exhausted)


@pytest.mark.parametrize(
    ("moment", "month", "start", "following"),
    [
        (datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), "2026-12", (2026, 12), (2027, 1)),
        (datetime(2027, 1, 1, tzinfo=UTC), "2027-01", (2027, 1), (2027, 2)),
        (datetime(2027, 2, 28, 12, tzinfo=UTC), "2027-02", (2027, 2), (2027, 3)),
        (datetime(2028, 2, 29, 12, tzinfo=UTC), "2028-02", (2028, 2), (2028, 3)),
        # 00:30 on New Year's day at +02:00 is still December in UTC
        (
            datetime(2027, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=2))),
            "2026-12",
            (2026, 12),
            (2027, 1),
        ),
        # 20:00 on New Year's Eve at -05:00 is already January in UTC
        (
            datetime(2026, 12, 31, 20, tzinfo=timezone(timedelta(hours=-5))),
            "2027-01",
            (2027, 1),
            (2027, 2),
        ),
    ],
)
def test_months_are_utc_calendar_months(
    moment: datetime, month: str, start: tuple[int, int], following: tuple[int, int]
) -> None:
    assert month_of(moment) == month
    assert month_start(moment) == datetime(*start, 1, tzinfo=UTC)
    assert next_month_start(moment) == datetime(*following, 1, tzinfo=UTC)


@settings(max_examples=200, deadline=None)
@given(moment=moments)
def test_a_moment_lies_in_its_month(moment: datetime) -> None:
    start, end = month_start(moment), next_month_start(moment)
    assert start <= moment < end
    assert start.tzinfo is not None and start.utcoffset() == timedelta(0)
    assert start.day == end.day == 1 and start.time() == end.time() == datetime.min.time()
    assert timedelta(days=28) <= end - start <= timedelta(days=31)
    assert month_of(start) == month_of(moment) == start.strftime("%Y-%m")
    assert month_start(end) == end  # the next month starts where this one ends
    assert month_of(end - timedelta(microseconds=1)) == month_of(moment)
