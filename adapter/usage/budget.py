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
from typing import Literal, TypeGuard

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


def has_budget(budget_usd: float | None) -> TypeGuard[float]:
    return budget_usd is not None and budget_usd > 0


def _reached(spent_usd: float, amount_usd: float) -> bool:
    """Whether ``spent_usd`` reached ``amount_usd``: one comparison for every decision."""
    return spent_usd >= amount_usd - EPSILON_USD


def budget_status(budget_usd: float | None, spent_usd: float) -> BudgetStatus:
    if not has_budget(budget_usd):
        return BudgetStatus(None, spent_usd, None, "none")
    level: Level = "ok"
    if _reached(spent_usd, budget_usd):
        level = "exhausted"
    elif _reached(spent_usd, budget_usd * WARN_PERCENT / 100):
        level = "warning"
    return BudgetStatus(budget_usd, spent_usd, spent_usd / budget_usd, level)


def fits(budget_usd: float | None, committed_usd: float, cost_usd: float) -> bool:
    """Whether a transcription costing ``cost_usd`` may be made this month."""
    if not has_budget(budget_usd):
        return True
    if _reached(committed_usd, budget_usd):
        return False
    return committed_usd + cost_usd <= budget_usd + EPSILON_USD


def crossed(budget_usd: float | None, spent_usd: float) -> list[int]:
    """The alert thresholds (percent) that ``spent_usd`` has reached."""
    if not has_budget(budget_usd):
        return []
    thresholds = (WARN_PERCENT, SPENT_PERCENT)
    return [t for t in thresholds if _reached(spent_usd, budget_usd * t / 100)]


def warning(account_id: int, status: BudgetStatus) -> str | None:
    """What ``transcriber status`` says of an account at 80 % of its budget or over it."""
    if status.budget_usd is None or status.level in ("none", "ok"):
        return None
    spent = f"{status.spent_usd:.2f} of {status.budget_usd:.2f} USD"
    if status.level == "warning":
        used = f"{status.fraction or 0:.0%}"
        return f"account {account_id} has used {used} of its monthly budget ({spent})"
    return (
        f"account {account_id} has spent its monthly budget ({spent}): its new voice notes are "
        f"skipped (reason budget) until `transcriber accounts update {account_id} "
        "--monthly-budget-usd X` raises it; then `transcriber retry --state skipped`"
    )


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
    "warning",
]
