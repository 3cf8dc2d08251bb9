"""The overview: what is happening now, refreshed in place every few seconds.

Four panels: now (counts, queue depth, and a banner per account near or over its budget),
the transcriptions in progress (each with its percent done), success and speed (the last
hour, day and week), and this month's budget alerts.

The page and the fragment it polls (``/console/overview/panel``) render the same partial, so
the first paint needs no script and a browser without JavaScript still sees it (and reloads).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from anyio import to_thread
from starlette.responses import Response

from adapter.runtime import Runtime
from adapter.web.console import reads
from adapter.web.console.auth import Ctx
from adapter.web.console.render import html

#: how often the page asks for the panel again
POLL_SECONDS = 5
#: how many transcriptions under way the panel lists (the rest are counted, and linked)
IN_PROGRESS_ROWS = 10


@dataclass(frozen=True)
class Now:
    counts: dict[str, int]
    depth: dict[str, int] | None
    in_progress: reads.InProgress
    windows: list[reads.Window]
    banners: list[reads.Budget]
    alerts: list[reads.Alert]
    at: datetime


def read_now(rt: Runtime, at: datetime) -> Now:
    """Everything the panel shows, read in one worker thread."""
    accounts = rt.accounts.all()
    banners = [b for b in reads.budgets(rt, accounts, at) if b.level in ("warning", "exhausted")]
    counts = rt.ledger.counts()
    return Now(
        counts=counts,
        depth=reads.depth(rt),
        in_progress=reads.in_progress(rt, counts, IN_PROGRESS_ROWS),
        windows=reads.windows(rt, at),
        banners=banners,
        alerts=reads.alerts(rt, at),
        at=at,
    )


async def _values(ctx: Ctx) -> dict[str, Any]:
    now = await to_thread.run_sync(lambda: read_now(ctx.rt, datetime.now(UTC)))
    return {"now": now, "poll_seconds": POLL_SECONDS}


async def overview(ctx: Ctx) -> Response:
    return ctx.page("overview.html", {"title": "Overview", **await _values(ctx)})


async def panel(ctx: Ctx) -> Response:
    return html("_overview_panel.html", await _values(ctx))


__all__ = ["IN_PROGRESS_ROWS", "POLL_SECONDS", "overview", "panel", "read_now"]
