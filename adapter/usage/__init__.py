"""What the transcriptions did and cost: usage reports, month-to-date cost, projections.

The decisions are pure (``prices``, ``report.fold``, ``budget``, ``projection``); the functions
here put them together over the store (``adapter.store.usage.UsageStore``), which the caller
passes in:

    report(store, prices, by="day", account_id=3)        # transcriber usage, /api/v1/usage
    month_to_date(store, prices, account_id=3)           # spent and promised this month
    projection(store, prices, account_id=3)              # transcriber usage --project
"""

from __future__ import annotations

from datetime import datetime

from adapter.store.models import utcnow
from adapter.store.usage import GROUPINGS, Grouping, UsageStore, grouping
from adapter.usage.budget import BudgetStatus, budget_status, month_start
from adapter.usage.prices import BUILT_IN, Prices
from adapter.usage.projection import Projection, lookback, project
from adapter.usage.report import UsageReport, UsageRow, fold


def report(
    store: UsageStore,
    prices: Prices,
    *,
    by: Grouping,
    account_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> UsageReport:
    cells = store.cells(by, account_id=account_id, since=since, until=until)
    chat = store.chat_cells(by, account_id=account_id, since=since, until=until)
    return fold(by, cells, prices, chat)


def month_to_date(
    store: UsageStore,
    prices: Prices,
    account_id: int,
    now: datetime | None = None,
    *,
    besides: int | None = None,
) -> float:
    """USD the account's transcriptions of this month cost or have been promised (planned
    ones in progress), other than transcription ``besides``."""
    since = month_start(now or utcnow())
    committed = store.committed(account_id, since, besides=besides)
    audio = sum(prices.cost(engine, model, seconds) for engine, model, seconds in committed)
    chat = store.chat_cells("account", account_id=account_id, since=since)
    return audio + sum(prices.chat_cost(c.model, c.input_tokens, c.output_tokens) for c in chat)


def projection(
    store: UsageStore,
    prices: Prices,
    *,
    account_id: int | None = None,
    budget_usd: float | None = None,
    now: datetime | None = None,
) -> Projection:
    """The month's projected cost of one account, or of all (``account_id`` None)."""
    now = now or utcnow()
    spent = report(store, prices, by="month", account_id=account_id, since=month_start(now))
    since, _ = lookback(now)
    recent = report(store, prices, by="month", account_id=account_id, since=since)
    return project(now, spent.totals.cost_usd, recent.totals.cost_usd, budget_usd)


__all__ = [
    "BUILT_IN",
    "GROUPINGS",
    "BudgetStatus",
    "Grouping",
    "Prices",
    "Projection",
    "UsageReport",
    "UsageRow",
    "budget_status",
    "grouping",
    "month_to_date",
    "projection",
    "report",
]
