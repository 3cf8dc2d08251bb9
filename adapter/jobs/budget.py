"""The monthly budget at work: refuse what does not fit before anything is spent, and warn
once per account and month when the spending crosses 80 % and 100 %.

The decisions are ``adapter.usage.budget``'s; this module reads what the month has cost
(``adapter.usage.month_to_date``) and says what crossed a threshold, once: the
``budget_alerts`` row's insert decides who says it (a log event, the ``budget.alert``
metric, a Sentry message; the console shows the month's rows).
"""

from __future__ import annotations

import logging

import sentry_sdk

from adapter.errors import OverBudget
from adapter.observability import Metric, metrics
from adapter.runtime import Runtime
from adapter.store import Account, utcnow
from adapter.usage import month_to_date
from adapter.usage.budget import SPENT_PERCENT, crossed, fits, has_budget, month_of

log = logging.getLogger(__name__)


def admit(
    rt: Runtime,
    account: Account,
    transcription_id: int,
    *,
    engine: str,
    model: str | None,
    billed_seconds: float,
) -> None:
    """Raise :class:`OverBudget` unless ``billed_seconds`` more of ``model`` fit in what is
    left of the account's month."""
    budget = account.monthly_budget_usd
    if not has_budget(budget):
        return
    now = utcnow()
    committed = month_to_date(rt.usage, rt.prices, account.id, now, besides=transcription_id)
    cost = rt.prices.cost(engine, model, billed_seconds)
    if fits(budget, committed, cost):
        return
    warn(rt, account, committed)
    metrics.incr(Metric.BUDGET_REFUSED)
    raise OverBudget(
        f"the account's monthly budget of {usd(budget)} USD would be passed: "
        f"{usd(committed)} USD spent or promised in {month_of(now)}, this audio "
        f"{usd(cost)} USD; raise --monthly-budget-usd, then `transcriber retry --state skipped`"
    )


def usd(amount: float) -> str:
    """An amount for people: cents from a dollar up, else four significant digits."""
    return f"{amount:,.2f}" if amount >= 1 else f"{amount:.4g}"


def after_spending(rt: Runtime, account_id: int) -> None:
    """A transcription of the account was made: warn of the thresholds its month crossed."""
    account = rt.accounts.get(account_id)
    if account is None or not has_budget(account.monthly_budget_usd):
        return
    warn(rt, account, month_to_date(rt.usage, rt.prices, account_id))


def warn(rt: Runtime, account: Account, spent_usd: float) -> None:
    """Say each threshold ``spent_usd`` crossed this month, unless it was said already."""
    budget = account.monthly_budget_usd
    assert budget is not None
    month = month_of(utcnow())
    for threshold in crossed(budget, spent_usd):
        if not rt.usage.record_alert(
            account.id, month, threshold, spent_usd=spent_usd, budget_usd=budget
        ):
            continue
        what = "spent" if threshold >= SPENT_PERCENT else f"{threshold}% used"
        message = (
            f"account {account.id}: monthly budget {what} in {month} "
            f"({usd(spent_usd)} of {usd(budget)} USD)"
        )
        log.warning(
            message,
            extra={
                "event": "budget.alert",
                "account_id": account.id,
                "threshold": threshold,
                "month": month,
            },
        )
        metrics.incr(Metric.BUDGET_ALERT)
        sentry_sdk.capture_message(message, level="warning")


__all__ = ["admit", "after_spending", "usd", "warn"]
