"""``transcriber usage``: what the transcriptions of a window did and cost, grouped; with
``--project``, the month's projected cost per account against its budget.

Reads the database only (no keys, no broker). Costs are billed minutes times today's prices
(``TRANSCRIBER_PRICES`` over the built-in table), so a price change restates every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from adapter import usage
from adapter.cli import Failure
from adapter.cli.context import load_settings
from adapter.scan.window import parse_when
from adapter.store import AccountStore, UsageStore, utcnow
from adapter.store.db import open_database
from adapter.usage import Prices, Projection, UsageReport
from adapter.usage.budget import month_start

USD = "{:,.4f}"


def cmd_usage(args: argparse.Namespace) -> int:
    settings = load_settings()
    engine = open_database(settings.database_url)
    store, prices = UsageStore(engine), Prices.with_overrides(settings.prices, settings.chat_prices)
    now = utcnow()
    if args.project:
        budgets = {a.id: a.monthly_budget_usd for a in AccountStore(engine).all()}
        return _project(args, store, prices, budgets, now)
    since, until = _window(args, now)
    found = usage.report(
        store, prices, by=args.by, account_id=args.account_id, since=since, until=until
    )
    if args.json:
        print(json.dumps(found.as_json(), indent=2))
    else:
        _print_report(found, since, until)
    return 0


def _window(args: argparse.Namespace, now: datetime) -> tuple[datetime | None, datetime | None]:
    try:
        since = parse_when(args.since, now) if args.since else None
        until = parse_when(args.until, now) if args.until else None
    except ValueError as exc:
        raise Failure(f"--since/--until: {exc}") from None
    if since is not None and until is not None and since >= until:
        raise Failure(f"--since ({since.isoformat()}) must be before --until ({until.isoformat()})")
    return since, until


def _console() -> Console:
    """Rich's console on standard output: the terminal's width, or wide enough for any row
    when the output goes to a file or a pipe (rich would assume 80 columns and cut keys)."""
    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:,.1f}"


def _print_report(found: UsageReport, since: datetime | None, until: datetime | None) -> None:
    start = since.isoformat(timespec="seconds") if since else "the beginning"
    span = f"{start} to {until.isoformat(timespec='seconds') if until else 'now'}"
    table = Table(title=f"Usage by {found.by}, {span}", title_justify="left")
    table.add_column(found.by.upper(), overflow="fold")
    for name in ("COUNT", "AUDIO MIN", "BILLED MIN", "COST USD", "FAILED", "SKIPPED"):
        table.add_column(name, justify="right")
    for row in [*found.rows, found.totals]:
        key = "total" if row is found.totals else ("unknown" if row.key is None else str(row.key))
        table.add_row(
            key,
            str(row.transcriptions),
            _minutes(row.audio_seconds),
            _minutes(row.billed_seconds),
            USD.format(row.cost_usd),
            str(row.failed),
            str(row.skipped),
            end_section=row is found.rows[-1] if found.rows else False,
        )
    console = _console()
    console.print(table)
    if found.unpriced:
        console.print(
            f"not priced (counted as 0 USD; add them to TRANSCRIBER_PRICES): "
            f"{', '.join(found.unpriced)}",
            highlight=False,
        )


def _project(
    args: argparse.Namespace,
    store: UsageStore,
    prices: Prices,
    budgets: dict[int, float | None],
    now: datetime,
) -> int:
    if args.account_id is not None:
        ids = [args.account_id]
    else:
        month = usage.report(store, prices, by="account", since=month_start(now))
        ids = sorted({int(r.key) for r in month.rows if r.key is not None} | set(budgets))
    rows = [
        usage.projection(store, prices, account_id=i, budget_usd=budgets.get(i) or None, now=now)
        for i in ids
    ]
    total = usage.projection(store, prices, account_id=args.account_id, now=now)
    if args.json:
        print(
            json.dumps(
                {
                    "month": total.month,
                    "accounts": [
                        {"account_id": i, **_projection_json(p)}
                        for i, p in zip(ids, rows, strict=True)
                    ],
                    "totals": _projection_json(total),
                },
                indent=2,
            )
        )
        return 0
    table = Table(
        title=f"Projected cost of {total.month} (recent daily rate times days left)",
        title_justify="left",
    )
    for name in (
        "ACCOUNT",
        "SPENT USD",
        "USD A DAY",
        "PROJECTED USD",
        "BUDGET USD",
        "PROJECTED/BUDGET",
    ):
        table.add_column(name, justify="right")
    for key, p in [*zip(map(str, ids), rows, strict=True), ("total", total)]:
        share = f"{p.projected_usd / p.budget_usd:.0%}" if p.budget_usd else "-"
        table.add_row(
            key,
            USD.format(p.spent_usd),
            USD.format(p.daily_usd),
            USD.format(p.projected_usd),
            USD.format(p.budget_usd) if p.budget_usd else "-",
            share,
        )
    _console().print(table)
    return 0


def _projection_json(p: Projection) -> dict[str, Any]:
    return {
        "spent_usd": round(p.spent_usd, 6),
        "daily_usd": round(p.daily_usd, 6),
        "days_left": round(p.days_left, 3),
        "projected_usd": round(p.projected_usd, 6),
        "monthly_budget_usd": p.budget_usd,
    }


__all__ = ["cmd_usage"]
