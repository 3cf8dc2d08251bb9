"""Usage and cost over time: per account, daily minutes and cost as charts; the languages
heard; each account's month to date against its budget. Cost is the audio's and the chat
model's (summaries, translations) together; the tables show the chat model's tokens and part.

Days without a transcription are drawn as zero bars, so the x axis is the calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from anyio import to_thread
from markupsafe import Markup
from starlette.responses import Response

from adapter.runtime import Runtime
from adapter.web.console import reads
from adapter.web.console.auth import Ctx
from adapter.web.console.charts import Point, bars, columns
from adapter.web.console.render import usd

#: the periods the page offers, in days
PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30


@dataclass(frozen=True)
class AccountTrend:
    account_id: int
    days: list[reads.UsageLine]
    minutes_chart: Markup
    cost_chart: Markup

    @property
    def minutes(self) -> float:
        return sum(d.audio_seconds for d in self.days) / 60

    @property
    def cost(self) -> float:
        """Everything: the audio and the chat model."""
        return sum(d.cost_usd for d in self.days)

    @property
    def chat_cost(self) -> float:
        return sum(d.chat_cost_usd for d in self.days)

    @property
    def chat_tokens(self) -> int:
        return sum(d.chat_tokens for d in self.days)


def calendar(lines: list[reads.UsageLine], first: date, last: date) -> list[reads.UsageLine]:
    """One line per day from ``first`` to ``last``: the report's, or zero."""
    by_day = {line.key[:10]: line for line in lines}
    days = []
    day = first
    while day <= last:
        key = day.isoformat()
        days.append(by_day.get(key) or reads.UsageLine(key, 0, 0.0, 0.0, 0.0))
        day += timedelta(days=1)
    return days


def _minutes(value: float) -> str:
    return f"{value:,.1f} min"


def account_trend(rt: Runtime, account_id: int, first: date, last: date) -> AccountTrend:
    since = datetime.combine(first, time(), UTC)
    until = datetime.combine(last + timedelta(days=1), time(), UTC)
    lines = reads.report(rt, "day", account_id=account_id, since=since, until=until)
    days = calendar(lines, first, last)
    return AccountTrend(
        account_id,
        days,
        columns(
            f"minutes-{account_id}",
            f"Account {account_id}: minutes of audio per day",
            [Point(d.key, d.audio_seconds / 60) for d in days],
            fmt=_minutes,
        ),
        columns(
            f"cost-{account_id}",
            f"Account {account_id}: cost per day (USD)",
            [Point(d.key, d.cost_usd) for d in days],
            fmt=usd,
        ),
    )


def read_usage(rt: Runtime, period: int, now: datetime) -> dict[str, Any]:
    """Everything the page shows, read in one worker thread."""
    last = now.astimezone(UTC).date()
    first = last - timedelta(days=period - 1)
    accounts = rt.accounts.all()
    trends = [account_trend(rt, a.id, first, last) for a in accounts]
    languages = reads.report(
        rt,
        "language",
        account_id=None,
        since=datetime.combine(first, time(), UTC),
        until=datetime.combine(last + timedelta(days=1), time(), UTC),
    )
    language_chart = None
    if languages:
        language_chart = bars(
            "languages",
            "Minutes of audio per language",
            [Point(line.key or "unknown", line.audio_seconds / 60) for line in languages],
            fmt=_minutes,
        )
    return {
        "first": first,
        "last": last,
        "trends": trends,
        "languages": languages,
        "language_chart": language_chart,
        "budgets": reads.budgets(rt, accounts, now),
    }


async def usage_page(ctx: Ctx) -> Response:
    raw = ctx.request.query_params.get("days", "")
    period = int(raw) if raw in {str(p) for p in PERIODS} else DEFAULT_PERIOD
    values = await to_thread.run_sync(lambda: read_usage(ctx.rt, period, datetime.now(UTC)))
    return ctx.page(
        "usage.html", {"title": "Usage", "period": period, "periods": PERIODS, **values}
    )


__all__ = ["PERIODS", "calendar", "read_usage", "usage_page"]
