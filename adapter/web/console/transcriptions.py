"""Transcriptions: the filtered, searchable, paged list; one transcription; retries.

Filters come from the query string and are checked here: a bad value is named on the page
(400), never passed on, never a 500. Dates are days (``YYYY-MM-DD``) from :data:`FIRST_DAY`
to :data:`LAST_DAY`: far enough inside ``date.min`` and ``date.max`` that the day after
``until`` and any time zone still make a datetime. Retries are POSTs (``auth.action``: CSRF
checked) that answer with a redirect (303), so a reload does not retry twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from anyio import to_thread
from starlette.responses import RedirectResponse, Response

from adapter.jobs.recovery import retry_many, retry_one
from adapter.store import NotRetryable, State, Transcription
from adapter.web.console import reads
from adapter.web.console.auth import Ctx, not_found
from adapter.web.console.reads import Filters

PAGE_SIZE = 50
MAX_ID = 2**53
MAX_QUERY_CHARS = 200
STATES = tuple(s.value for s in State)
SOURCES = ("webhook", "reconcile", "backfill", "on_demand", "stream")
RETRYABLE = (State.failed.value, State.skipped.value)
#: the states whose progress the pages show (in percent done and chunks)
IN_FLIGHT = (State.queued.value, State.transcribing.value)
_LANGUAGE = re.compile(r"^[a-z]{2}$")
#: the filter fields of the list, in the order of the form
FIELDS = ("account", "state", "source", "language", "since", "until", "q")
#: the days a date filter may name
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9998, 12, 31)
#: what the bulk retry says: ``bulk`` some were queued again, ``bulk_none`` none had failed
BULK_NOTICES = ("bulk", "bulk_none")


def positive_id(value: str | None) -> int | None:
    """A database id from text, or None when it is not one."""
    if not value or len(value) > 16 or not value.isascii() or not value.isdigit():
        return None
    number = int(value)
    return number if 0 < number < MAX_ID else None


def _day(value: str) -> date | None:
    """A day from ``YYYY-MM-DD`` between :data:`FIRST_DAY` and :data:`LAST_DAY`, or None."""
    if len(value) != 10 or not value.isascii():
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    return day if FIRST_DAY <= day <= LAST_DAY else None


def _bounds(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    """[since, until] as the datetimes [since 00:00 UTC, the day after until 00:00 UTC);
    OverflowError past the calendar's ends."""
    start = datetime.combine(since, time(), UTC) if since else None
    end = datetime.combine(until + timedelta(days=1), time(), UTC) if until else None
    return start, end


def parse_filters(query: Mapping[str, str]) -> tuple[Filters, dict[str, str], list[str]]:
    """The filters of a query string, the values to show back in the form, and what was wrong
    (each problem names the field, never its value)."""
    shown = {name: (query.get(name) or "").strip()[:MAX_QUERY_CHARS] for name in FIELDS}
    errors: list[str] = []
    account_id = positive_id(shown["account"]) if shown["account"] else None
    if shown["account"] and account_id is None:
        errors.append("Account must be an account number.")
    state = shown["state"] or None
    if state is not None and state not in STATES:
        errors.append(f"State must be one of: {', '.join(STATES)}.")
    source = shown["source"] or None
    if source is not None and source not in SOURCES:
        errors.append(f"Source must be one of: {', '.join(SOURCES)}.")
    language = shown["language"].lower() or None
    if language is not None and not _LANGUAGE.match(language):
        errors.append("Language must be a two-letter code such as en or es.")
    span = f"a date (YYYY-MM-DD) from {FIRST_DAY} to {LAST_DAY}"
    since = _day(shown["since"]) if shown["since"] else None
    if shown["since"] and since is None:
        errors.append(f"From must be {span}.")
    until = _day(shown["until"]) if shown["until"] else None
    if shown["until"] and until is None:
        errors.append(f"Until must be {span}.")
    try:
        start, end = _bounds(since, until)
    except OverflowError:  # unreachable inside FIRST_DAY..LAST_DAY; never a 500 if not
        start = end = None
        errors.append(f"Dates must be from {FIRST_DAY} to {LAST_DAY}.")
    raw_q = (query.get("q") or "").strip()
    if len(raw_q) > MAX_QUERY_CHARS:
        errors.append(f"Search must be at most {MAX_QUERY_CHARS} characters.")
    before = query.get("before")
    before_id = positive_id(before) if before else None
    if before and before_id is None:
        errors.append("The page link is not valid.")
    filters = Filters(
        account_id=account_id,
        state=state,
        source=source,
        language=language,
        since=start,
        until=end,  # the whole of the last day
        q=raw_q or None,
        before_id=before_id,
    )
    return filters, shown, errors


def _older_link(shown: dict[str, str], rows: list[Transcription]) -> str:
    kept = {k: v for k, v in shown.items() if v}
    return "/console/transcriptions?" + urlencode({**kept, "before": rows[-1].id})


async def list_page(ctx: Ctx) -> Response:
    filters, shown, errors = parse_filters(ctx.request.query_params)
    values: dict[str, Any] = {
        "title": "Transcriptions",
        "shown": shown,
        "errors": errors,
        "states": STATES,
        "sources": SOURCES,
        "rows": [],
        "older": None,
        "paged": filters.before_id is not None,
        "notice": ctx.request.query_params.get("notice"),
        "account_ids": [],
        "retryable": RETRYABLE,
        "in_flight": IN_FLIGHT,
    }
    if errors:
        return ctx.page("transcriptions.html", values, status=400)

    def read() -> tuple[list[Transcription], list[int]]:
        rows = reads.transcriptions(ctx.rt, filters, PAGE_SIZE + 1)
        return rows, [a.id for a in ctx.rt.accounts.all()]

    rows, account_ids = await to_thread.run_sync(read)
    values.update(
        rows=[reads.view(ctx.rt, r) for r in rows[:PAGE_SIZE]],
        older=_older_link(shown, rows[:PAGE_SIZE]) if len(rows) > PAGE_SIZE else None,
        account_ids=account_ids,
    )
    return ctx.page("transcriptions.html", values)


async def detail_page(ctx: Ctx) -> Response:
    tid = positive_id(ctx.request.path_params["id"])
    if tid is None:
        return not_found()
    row = await to_thread.run_sync(lambda: ctx.rt.ledger.get(tid))
    if row is None:
        return not_found()
    view = reads.view(ctx.rt, row)
    values = {
        "title": f"Transcription {tid}",
        "t": view,
        "filename": row.filename,
        "received_at": row.received_at,
        "delivered_at": row.delivered_at,
        "retryable": row.state in RETRYABLE,
        "in_flight": IN_FLIGHT,
        "notice": ctx.request.query_params.get("notice"),
    }
    return ctx.page("transcription.html", values)


async def retry(ctx: Ctx) -> Response:
    tid = positive_id(ctx.request.path_params["id"])
    if tid is None:
        return not_found()
    try:
        await to_thread.run_sync(lambda: retry_one(ctx.rt, tid))
    except NotRetryable as exc:
        if exc.status == 404:
            return not_found()
        return RedirectResponse(f"/console/transcriptions/{tid}?notice=not_retryable", 303)
    return RedirectResponse(f"/console/transcriptions/{tid}?notice=retried", 303)


async def retry_failed(ctx: Ctx) -> Response:
    """Retry every failed transcription, of one account when the form names it."""
    raw = ctx.form.get("account_id", "").strip()
    account_id = positive_id(raw)
    if raw and account_id is None:
        return not_found()
    done = await to_thread.run_sync(
        lambda: retry_many(ctx.rt, account_id=account_id, state=State.failed.value)
    )
    # the number is not put in the URL: a link could then show any number
    notice = BULK_NOTICES[0] if done else BULK_NOTICES[1]
    return RedirectResponse(f"/console/transcriptions?notice={notice}", 303)


__all__ = ["detail_page", "list_page", "parse_filters", "positive_id", "retry", "retry_failed"]
