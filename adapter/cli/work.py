"""The work itself: ``transcribe`` a file, ``status`` of the queue, ``retry``, ``demo``."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapter import usage
from adapter.accounts import key_warning, model_problem
from adapter.cli import Failure
from adapter.cli.context import check_redis, load_settings
from adapter.demo import run_demo
from adapter.engines.factory import build_engine
from adapter.jobs.recovery import retry_many, status_counts
from adapter.runtime import Runtime
from adapter.secrets import load_keyring
from adapter.store import Account, Ledger, Transcription, utcnow
from adapter.store.db import open_database
from adapter.transcribe import FileTranscript, transcribe_file
from adapter.usage import Prices, budget
from adapter.views import scan_view, transcription_view
from adapter.wiring import build_runtime, policies


@contextmanager
def runtime(*, broker: bool = True) -> Iterator[Runtime]:
    """A runtime on the existing, migrated database, closed afterwards. Without
    TRANSCRIBER_REDIS_URL its broker is the in-process one: what it is sent waits in the
    database for ``up``'s recovery sweep. With it, Redis must answer unless ``broker`` is False
    (``status`` reports a silent Redis instead of failing)."""
    settings = load_settings()
    open_database(settings.database_url)
    load_keyring(settings)  # its one-line error before the runtime's logging starts
    if broker:
        check_redis(settings)
    rt = build_runtime(settings, component="cli", embedded=True)
    try:
        yield rt
    finally:
        rt.close()


def cmd_transcribe(args: argparse.Namespace) -> int:
    settings = load_settings()
    path = Path(args.file)
    if not path.is_file():
        raise Failure(f"{path}: no such file")
    kind = args.engine or settings.default_engine
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    if kind == "openai" and key is None:
        raise Failure("the openai engine needs OPENAI_API_KEY")
    if args.model is not None and (
        problem := model_problem(kind, args.model, settings.openai_base_url)
    ):
        raise Failure(problem)
    engine = build_engine(
        kind,
        api_key=key,
        model=args.model,
        base_url=settings.openai_base_url,
        language=args.language,
        model_dir=settings.model_dir,
    )
    with tempfile.TemporaryDirectory(prefix="transcriber-") as tmp:
        result = transcribe_file(
            path,
            Path(tmp),
            engine,
            policies(settings)[1],
            language=args.language,
            remove_silence=args.remove_silence is not False,
        )
    print_transcript(result, as_json=args.json)
    return 0


def print_transcript(result: FileTranscript, *, as_json: bool) -> None:
    transcript = result.transcript
    if as_json:
        print(
            json.dumps(
                {
                    "text": transcript.text,
                    "language": transcript.language,
                    "duration": round(transcript.duration, 3),
                    "billed_seconds": round(result.billed_seconds, 3),
                }
            )
        )
        return
    print(transcript.text)
    print(f"language: {transcript.language or 'unknown'}")
    print(f"duration: {transcript.duration:.2f}s")


def cmd_status(args: argparse.Namespace) -> int:
    with runtime(broker=False) as rt:
        status = status_counts(rt)
        status["reconcile"] = reconcile_status(rt)
        status["warnings"] = [
            warning
            for account in rt.accounts.all()
            if account.enabled
            for warning in (key_warning(account, rt.settings), _budget_warning(rt, account))
            if warning
        ]
        embedded = rt.settings.redis_url is None
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        print("\n".join(status_lines(status, embedded=embedded)))
    return 0


def _budget_warning(rt: Runtime, account: Account) -> str | None:
    if not budget.has_budget(account.monthly_budget_usd):
        return None
    spent = usage.month_to_date(rt.usage, rt.prices, account.id)
    return budget.warning(account.id, budget.budget_status(account.monthly_budget_usd, spent))


def reconcile_status(rt: Runtime) -> list[dict[str, Any]]:
    """Each account's reconciliation: its last scan, watermark and findings."""
    scans = rt.scans.all()
    return [
        {
            "account_id": account.id,
            "enabled": account.enabled,
            **scan_view(scans.get(account.id), has_user_token=account.user_token_enc is not None),
        }
        for account in rt.accounts.all()
    ]


def reconcile_line(item: dict[str, Any]) -> str:
    """One account's reconciliation for people, with what to do when it is stuck."""
    head = f"  account {item['account_id']}: {item['status']}"
    if not item["enabled"]:
        return head + " (account disabled: not reconciled)"
    if item["error"]:
        return f"{head}: {item['error']}"
    if item["last_finished_at"] is None:
        return head + " (no scan yet)"
    found = item["last_counts"] or {}
    return (
        f"{head}, last scan finished {item['last_finished_at']}, watermark "
        f"{item['watermark']}; found {found.get('queued', 0)} lost voice note(s) then, "
        f"{item['found_total']} in all"
    )


def status_lines(status: dict[str, Any], *, embedded: bool) -> list[str]:
    """``status_counts`` for people: a line per state, the queue depth, a line per
    transcription in progress with its percent done."""
    lines = [f"{state:13} {count}" for state, count in status["states"].items()]
    depth = status["queue_depth"]
    if embedded:
        lines.append("queue depth   n/a (no TRANSCRIBER_REDIS_URL: in-process broker)")
    elif depth is None:
        lines.append(
            "queue depth   unavailable (Redis did not answer: is TRANSCRIBER_REDIS_URL right?)"
        )
    else:
        lines.append("queue depth   " + ", ".join(f"{q}={n}" for q, n in depth.items()))
    for item in status["in_progress"]:
        p = item["progress"]
        chunks = f"chunks {p['chunks_done']}/{p['chunks_total'] or '?'}"
        if p["seconds_total"]:
            chunks += f", {p['seconds_done']:.0f}/{p['seconds_total']:.0f} s of audio"
        lines.append(f"  transcription {item['id']}: {item['percent']:g}% done ({chunks})")
    if status.get("reconcile"):
        lines.append("reconciliation (webhooks that never arrived)")
        lines.extend(reconcile_line(item) for item in status["reconcile"])
    lines.extend(f"warning: {warning}" for warning in status.get("warnings", ()))
    return lines


def cmd_retry(args: argparse.Namespace) -> int:
    with runtime() as rt:
        if rt.settings.redis_url is None:
            print(
                "note: no TRANSCRIBER_REDIS_URL: they are re-queued in the database, and a "
                "running `transcriber up` sends them within TRANSCRIBER_RECOVERY_INTERVAL_SECONDS "
                f"({rt.settings.recovery_interval_seconds:g} s), or when it next starts",
                file=sys.stderr,
            )
        ids = retry_many(rt, account_id=args.account_id, state=args.state)
    print(
        f"re-queued {len(ids)} transcription(s)" + (f": {', '.join(map(str, ids))}" if ids else "")
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """Recent transcriptions: a table for people, a JSON array with ``--json``. Reads the
    database only (no keys, no broker)."""
    settings = load_settings()
    ledger = Ledger(open_database(settings.database_url), lease_seconds=settings.lease_seconds)
    rows = ledger.recent(account_id=args.account_id, state=args.state, limit=args.limit)
    now = utcnow()
    prices = Prices.with_overrides(settings.prices, settings.chat_prices)
    items = [listed(row, now, prices) for row in rows]
    if args.json:
        print(json.dumps(items, indent=2))
    elif not items:
        print("no transcriptions" + (f" in state {args.state}" if args.state else ""))
    else:
        print("\n".join(listing_lines(items)))
    return 0


#: what ``list`` shows of a transcription: where it is and why, never its text
LISTED = (
    "id",
    "account_id",
    "conversation_id",
    "message_id",
    "attachment_id",
    "source",
    "state",
    "reason",
    "error",
    "created_at",
    "updated_at",
)


def listed(row: Transcription, now: datetime, prices: Prices) -> dict[str, Any]:
    view = transcription_view(row, prices)
    age_ = (now - as_utc(row.created_at)).total_seconds()
    return {**{key: view[key] for key in LISTED}, "age_seconds": round(max(0.0, age_))}


def as_utc(moment: datetime) -> datetime:
    """A stored time (naive in UTC on both databases' columns) as an aware one."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


#: the error column of ``list`` is cut to this many characters (``--json`` has it whole)
ERROR_WIDTH = 72


def listing_lines(items: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"{'ID':>8}  {'ACCOUNT':>8}  {'CONV':>8}  {'STATE':12}  {'REASON':18}  {'AGE':>5}  ERROR"
    ]
    for item in items:
        error = " ".join((item["error"] or "").split())
        if len(error) > ERROR_WIDTH:
            error = error[: ERROR_WIDTH - 1] + "…"
        lines.append(
            f"{item['id']:>8}  {item['account_id']:>8}  {item['conversation_id'] or '-':>8}  "
            f"{item['state']:12}  {item['reason'] or '':18}  {age(item['age_seconds']):>5}  {error}"
        )
    return lines


def age(seconds: float) -> str:
    """``42s``, ``7m``, ``5h``, ``3d``: how long ago, for people."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(engine=args.engine, keep=args.keep)


__all__ = [
    "LISTED",
    "age",
    "as_utc",
    "cmd_demo",
    "cmd_list",
    "cmd_retry",
    "cmd_status",
    "cmd_transcribe",
    "listed",
    "listing_lines",
    "print_transcript",
    "runtime",
    "status_lines",
]
