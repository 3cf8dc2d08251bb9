"""The month's projected cost: what is spent so far, plus the recent daily rate for the days
left. Pure.

The rate is the cost of the last ``LOOKBACK_DAYS`` days (across a month's start, too) divided
by that many days. A projection is a straight line: a campaign next week is not in it, and a
service installed three days ago projects low until it has a week behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from adapter.usage.budget import month_of, next_month_start

LOOKBACK_DAYS = 7
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Projection:
    month: str
    spent_usd: float
    daily_usd: float
    days_left: float
    projected_usd: float
    budget_usd: float | None = None


def lookback(now: datetime) -> tuple[datetime, float]:
    """Where the rate's window starts, and how many days long it is."""
    return now - LOOKBACK_DAYS * DAY, float(LOOKBACK_DAYS)


def project(
    now: datetime, spent_usd: float, recent_usd: float, budget_usd: float | None = None
) -> Projection:
    """``spent_usd`` this month so far; ``recent_usd`` over the :func:`lookback` window."""
    _, days = lookback(now)
    daily = recent_usd / days
    days_left = (next_month_start(now) - now) / DAY
    return Projection(
        month=month_of(now),
        spent_usd=spent_usd,
        daily_usd=daily,
        days_left=days_left,
        projected_usd=spent_usd + daily * days_left,
        budget_usd=budget_usd,
    )


__all__ = ["LOOKBACK_DAYS", "Projection", "lookback", "project"]
