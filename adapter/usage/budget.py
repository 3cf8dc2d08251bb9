"""Monthly budgets, decided without I/O.

A budget is USD per calendar month (UTC). A transcription is made only when it fits in what is
left: what the month's transcriptions cost or have been promised (``committed``) plus what
this one will cost must not pass the budget. So the month never ends over budget by more than
what transcriptions deciding at the same moment add, a long recording that would cross it is
refused before anything is spent, and once it is spent every new one is refused (``budget``).
At ``WARN_PERCENT`` of the budget the admins are warned, once per account and month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

WARN_PERCENT = 80
SPENT_PERCENT = 100
#: a cost within this of the budget counts as reaching it (float sums of small prices)
EPSILON_USD = 1e-9

Level = Literal["none", "ok", "warning", "exhausted"]


@dataclass(frozen=True)
class BudgetStatus:
    budget_usd: float | None
    spent_usd: float
    #: spent / budget (None without a budget)
    fraction: float | None
    level: Level


def has_budget(budget_usd: float | None) -> bool:
    return budget_usd is not None and budget_usd > 0


def budget_status(budget_usd: float | None, spent_usd: float) -> BudgetStatus:
    if budget_usd is None or not has_budget(budget_usd):
        return BudgetStatus(None, spent_usd, None, "none")
    fraction = spent_usd / budget_usd
    level: Level = "ok"
    if spent_usd >= budget_usd - EPSILON_USD:
        level = "exhausted"
    elif fraction * 100 >= WARN_PERCENT:
        level = "warning"
    return BudgetStatus(budget_usd, spent_usd, fraction, level)


def fits(budget_usd: float | None, committed_usd: float, cost_usd: float) -> bool:
    """Whether a transcription costing ``cost_usd`` may be made this month."""
    if budget_usd is None or not has_budget(budget_usd):
        return True
    if committed_usd >= budget_usd - EPSILON_USD:
        return False
    return committed_usd + cost_usd <= budget_usd + EPSILON_USD


def crossed(budget_usd: float | None, spent_usd: float) -> list[int]:
    """The alert thresholds (percent) that ``spent_usd`` has reached."""
    if budget_usd is None or not has_budget(budget_usd):
        return []
    percent = spent_usd / budget_usd * 100
    return [t for t in (WARN_PERCENT, SPENT_PERCENT) if percent >= t - EPSILON_USD]


def month_of(moment: datetime) -> str:
    """``YYYY-MM`` of ``moment`` in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m")


def month_start(moment: datetime) -> datetime:
    utc = moment.astimezone(UTC)
    return datetime(utc.year, utc.month, 1, tzinfo=UTC)


def next_month_start(moment: datetime) -> datetime:
    utc = moment.astimezone(UTC)
    year, month = (utc.year + 1, 1) if utc.month == 12 else (utc.year, utc.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


__all__ = [
    "SPENT_PERCENT",
    "WARN_PERCENT",
    "BudgetStatus",
    "budget_status",
    "crossed",
    "fits",
    "has_budget",
    "month_of",
    "month_start",
    "next_month_start",
]
