"""``backfill`` and ``reconcile``: find the audio that no webhook brought.

Progress goes to stderr (a rich progress bar on a terminal, a plain line every few seconds
otherwise); the summary to stdout, one line or one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from adapter.accounts import open_secret
from adapter.cli import Failure
from adapter.cli.work import runtime
from adapter.errors import HelpdeskTokenRejected, HelpdeskUnavailable
from adapter.observability import Metric, metrics
from adapter.runtime import Runtime
from adapter.scan.reconciler import AccountResult, reader_for, reconcile, target_of
from adapter.scan.sift import Counts
from adapter.scan.walk import Target, Walk, walk_for
from adapter.scan.window import Window, parse_when, reconcile_grace
from adapter.store import Account, utcnow

#: a plain progress line at most this often when stderr is not a terminal
PLAIN_EVERY_SECONDS = 5.0


def cmd_backfill(args: argparse.Namespace) -> int:
    with runtime() as rt:
        account, token = _readable_account(rt, args.account_id)
        window = _window(args.since, args.until)
        try:
            target = target_of(
                account,
                window,
                "backfill",
                inbox_ids=tuple(args.inbox_id),
                dry_run=args.dry_run,
            )
        except ValueError as exc:
            raise Failure(f"--inbox-id: {exc}") from None
        if not args.dry_run:
            _note_embedded(rt)
        counts = Counts()
        with _progress(f"backfill of account {account.id}") as show:
            walk = walk_for(
                rt,
                reader_for(rt, account, token),
                detached=rt.settings.redis_url is None,
                progress=show,
            )
            _walk(walk, target, counts)
    metrics.incr(Metric.BACKFILL_QUEUED, counts.queued)
    _print_summary(counts, as_json=args.json, dry_run=args.dry_run, what="backfill")
    return 0


def _note_embedded(rt: Runtime) -> None:
    if rt.settings.redis_url is None:
        print(
            "note: no TRANSCRIBER_REDIS_URL: what is queued waits in the database; a running "
            "`transcriber up` sends it on within TRANSCRIBER_RECOVERY_INTERVAL_SECONDS, or "
            "when it next starts",
            file=sys.stderr,
        )


def _walk(walk: Walk, target: Target, counts: Counts) -> None:
    """Run the walk; an interruption or a stop prints what was done before failing."""
    try:
        walk.run(target, counts)
    except KeyboardInterrupt:
        print(f"interrupted: {_line(counts, False)}; run it again to go on", file=sys.stderr)
        raise
    except HelpdeskTokenRejected as exc:
        raise Failure(
            f"{exc}; give the account an administrator's user token with `transcriber accounts "
            f"update {target.account_id} --user-token TOKEN`"
        ) from None
    except HelpdeskUnavailable as exc:
        raise Failure(
            f"{exc}; stopped after {_line(counts, False)}. Run it again: finished "
            "conversations are passed quickly and nothing is queued twice"
        ) from None


def _readable_account(rt: Runtime, account_id: int) -> tuple[Account, str]:
    account = rt.accounts.get(account_id)
    if account is None:
        raise Failure(f"account {account_id} not found (transcriber accounts list)")
    if not account.enabled:
        raise Failure(
            f"account {account_id} is disabled: enable it first (transcriber accounts enable "
            f"{account_id}), or its audio would be recorded as skipped"
        )
    if account.user_token_enc is None:
        raise Failure(
            f"account {account_id} has no user token, and an agent bot's token cannot list "
            f"conversations: set one with `transcriber accounts update {account_id} "
            "--user-token TOKEN` (an administrator's token reads every inbox)"
        )
    token = open_secret(rt.keyring, account_id, "user_token", account.user_token_enc)
    return account, token


def _window(since: str, until: str | None) -> Window:
    now = utcnow()
    try:
        start = parse_when(since, now)
        end = parse_when(until, now) if until else now
    except ValueError as exc:
        raise Failure(f"--since/--until: {exc}") from None
    if end <= start:
        raise Failure(f"--since ({start.isoformat()}) must be before --until ({end.isoformat()})")
    return Window(start, min(end, now))


@contextmanager
def _progress(title: str) -> Iterator[Callable[[Counts], None]]:
    """A progress callback: a live bar on a terminal, else a plain line now and then."""
    if sys.stderr.isatty():
        console = Console(file=sys.stderr)
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task(title, total=None, counts="starting")
            yield lambda counts: bar.update(task, counts=_line(counts, False))
        return
    last = [time.monotonic()]

    def plain(counts: Counts) -> None:
        if time.monotonic() - last[0] >= PLAIN_EVERY_SECONDS:
            last[0] = time.monotonic()
            print(f"{title}: {_line(counts, False)}", file=sys.stderr, flush=True)

    yield plain


def _line(counts: Counts, dry_run: bool) -> str:
    queued = "would queue" if dry_run else "queued"
    text = (
        f"{counts.conversations} conversations, {counts.messages} messages, {counts.audio} "
        f"audio: {counts.queued} {queued}, {counts.known} known, {counts.skipped} skipped"
    )
    if dry_run:
        text += f" ({_size(counts.bytes)} of audio to fetch)"
    return text


def _size(count: int) -> str:
    if count < 1000:
        return f"{count} bytes"
    if count < 1_000_000:
        return f"{count / 1000:.1f} kB"
    return f"{count / 1_000_000:.1f} MB"


def _print_summary(counts: Counts, *, as_json: bool, dry_run: bool, what: str) -> None:
    if as_json:
        print(json.dumps(counts.as_dict(with_bytes=dry_run)))
    else:
        print(f"{what}{' (dry run)' if dry_run else ''}: {_line(counts, dry_run)}")


def cmd_reconcile(args: argparse.Namespace) -> int:
    with runtime() as rt:
        if args.account_id is not None and rt.accounts.get(args.account_id) is None:
            raise Failure(f"account {args.account_id} not found (transcriber accounts list)")
        _note_embedded(rt)
        grace = reconcile_grace(rt.settings.reconcile_interval_seconds)
        detached = rt.settings.redis_url is None
        results = reconcile(rt, account_id=args.account_id, grace=grace, detached=detached)
    total = Counts()
    for result in results:
        total.add(result.counts)
    if args.json:
        print(json.dumps({**total.as_dict(), "accounts": [_result(r) for r in results]}))
    else:
        for result in results:
            print(_result_line(result), file=sys.stderr)
        print(f"reconcile: {_line(total, False)}")
    failed = [r for r in results if r.status in ("failed", "token_rejected")]
    return 1 if failed else 0


def _result(result: AccountResult) -> dict[str, Any]:
    return {
        "account_id": result.account_id,
        "status": result.status,
        "error": result.error,
        "since": result.window.since.isoformat() if result.window else None,
        "until": result.window.until.isoformat() if result.window else None,
        **result.counts.as_dict(),
    }


def _result_line(result: AccountResult) -> str:
    if result.status == "ok":
        return f"account {result.account_id}: {_line(result.counts, False)}"
    if result.status == "busy":
        return f"account {result.account_id}: skipped, another process is scanning it"
    return f"account {result.account_id}: {result.status}: {result.error}"


__all__ = ["cmd_backfill", "cmd_reconcile"]
