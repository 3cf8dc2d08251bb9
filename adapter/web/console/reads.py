"""What the console reads, in one place: blocking calls, each run in a worker thread by its
page, each answering plain values (the pages never see a session or a query).

The money comes from :mod:`adapter.usage` over ``rt.usage`` and ``rt.prices``, the same
figures as ``transcriber usage`` and ``/api/v1/usage``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from adapter import usage as usage_reports
from adapter.jobs.broker import queue_depth
from adapter.runtime import Runtime
from adapter.store import Account, State, Transcription
from adapter.store.usage import Grouping, Timings
from adapter.usage.budget import month_of
from adapter.views import transcription_view


@dataclass(frozen=True)
class Filters:
    """The transcription list's filters, checked (``transcriptions.parse_filters``)."""

    account_id: int | None = None
    state: str | None = None
    source: str | None = None
    language: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None
    before_id: int | None = None


@dataclass(frozen=True)
class Window:
    """Webhook-to-note figures over the last ``label``."""

    label: str
    timings: Timings


@dataclass(frozen=True)
class Budget:
    """An account's month to date against its budget (level: none, ok, warning, exhausted)."""

    account_id: int
    budget_usd: float | None
    spent_usd: float
    fraction: float | None
    level: str


@dataclass(frozen=True)
class Alert:
    """An account crossed ``threshold`` % (80: warning, 100: spent) of its month's budget."""

    account_id: int
    threshold: int
    spent_usd: float
    budget_usd: float
    created_at: datetime


@dataclass(frozen=True)
class UsageLine:
    """One row of a usage report: a day, a language. ``cost_usd`` is everything (the audio
    and the chat model); ``chat_cost_usd`` its chat model's part, for ``chat_tokens``."""

    key: str
    transcriptions: int
    audio_seconds: float
    billed_seconds: float
    cost_usd: float
    chat_tokens: int = 0
    chat_cost_usd: float = 0.0

    @property
    def audio_cost_usd(self) -> float:
        return max(0.0, self.cost_usd - self.chat_cost_usd)


@dataclass(frozen=True)
class InProgress:
    """Some of the transcriptions under way (those transcribing first, then those queued, the
    newest first of each) and how many there are in each of the two states."""

    rows: list[dict[str, Any]]
    transcribing: int
    queued: int

    @property
    def hidden(self) -> int:
        return self.transcribing + self.queued - len(self.rows)


WINDOWS = (
    ("Last hour", timedelta(hours=1)),
    ("Last day", timedelta(days=1)),
    ("Last week", timedelta(days=7)),
)


def depth(rt: Runtime) -> dict[str, int] | None:
    """Messages waiting per queue; None when the broker does not answer."""
    try:
        return queue_depth(rt.broker)
    except Exception:
        return None


def windows(rt: Runtime, now: datetime) -> list[Window]:
    """Success rate and webhook-to-note percentiles over the last hour, day and week."""
    return [Window(label, rt.usage.timings(now - span)) for label, span in WINDOWS]


def budgets(rt: Runtime, accounts: list[Account], now: datetime) -> list[Budget]:
    """Every account's month to date, with its budget's level."""
    found = []
    for account in accounts:
        spent = usage_reports.month_to_date(rt.usage, rt.prices, account.id, now=now)
        status = usage_reports.budget_status(account.monthly_budget_usd, spent)
        found.append(
            Budget(account.id, status.budget_usd, spent, status.fraction, str(status.level))
        )
    return found


def alerts(rt: Runtime, now: datetime) -> list[Alert]:
    """The budget alerts of ``now``'s month (UTC), the newest first."""
    found = [
        Alert(a.account_id, a.threshold, a.spent_usd, a.budget_usd, a.created_at)
        for a in rt.usage.alerts(month_of(now))
    ]
    found.sort(key=lambda a: (a.created_at, a.threshold, -a.account_id), reverse=True)
    return found


def report(
    rt: Runtime, by: Grouping, *, account_id: int | None, since: datetime, until: datetime
) -> list[UsageLine]:
    """Usage grouped ``by`` day, language, … over [since, until)."""
    result = usage_reports.report(
        rt.usage, rt.prices, by=by, account_id=account_id, since=since, until=until
    )
    return [
        UsageLine(
            "" if r.key is None else str(r.key),
            r.transcriptions,
            r.audio_seconds,
            r.billed_seconds,
            r.cost_usd,
            r.chat_tokens,
            r.chat_cost_usd,
        )
        for r in result.rows
    ]


def view(rt: Runtime, row: Transcription) -> dict[str, Any]:
    """The admin API's view of a row, with its cost split: the audio's, the chat model's."""
    found = transcription_view(row, rt.prices)
    chat = rt.prices.chat_cost(row.chat_model, row.chat_input_tokens, row.chat_output_tokens)
    audio = max(0.0, found["cost_usd"] - chat)
    return {**found, "chat_cost_usd": chat, "audio_cost_usd": audio}


def in_progress(rt: Runtime, counts: dict[str, int], limit: int) -> InProgress:
    """At most ``limit`` transcriptions under way, those transcribing first (``counts``: the
    ledger's per state, so a state with none is not read)."""
    rows: list[Transcription] = []
    for state in (State.transcribing.value, State.queued.value):
        if counts.get(state, 0) and len(rows) < limit:
            rows += rt.ledger.recent(state=state, limit=limit - len(rows))
    return InProgress(
        [view(rt, r) for r in rows],
        counts.get(State.transcribing.value, 0),
        counts.get(State.queued.value, 0),
    )


def transcriptions(rt: Runtime, filters: Filters, limit: int) -> list[Transcription]:
    """The newest transcriptions matching ``filters`` (full-text ``q``), at most ``limit``."""
    return rt.ledger.recent(
        account_id=filters.account_id,
        state=filters.state,
        source=filters.source,
        language=filters.language,
        since=filters.since,
        until=filters.until,
        q=filters.q,
        before_id=filters.before_id,
        limit=limit,
    )


__all__ = [
    "Alert",
    "Budget",
    "Filters",
    "InProgress",
    "UsageLine",
    "Window",
    "alerts",
    "budgets",
    "depth",
    "in_progress",
    "report",
    "transcriptions",
    "view",
    "windows",
]
