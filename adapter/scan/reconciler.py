"""The reconciler: every account's recent Chatwoot activity, scanned for audio no webhook brought.

Each enabled account with a user token is scanned from its watermark (less
``TRANSCRIBER_RECONCILE_OVERLAP_SECONDS``) to now, under the account's scan lease (one scan per
account at a time across every process; renewed by a heartbeat while the scan runs, so a
process killed mid-scan frees it within a lease). The watermark advances only when the whole
window was scanned. Every voice note the reconciler queues is a lost webhook: it is counted
(``Metric.RECONCILE_FOUND``) and logged at WARNING.

What each account's last scan did is stored (``ScanStore``): ``status`` and the admin API show
it. ``no_user_token`` and ``token_rejected`` say what to do; other accounts go on.

``start_reconciler`` runs it every ``TRANSCRIBER_RECONCILE_INTERVAL_SECONDS`` in a thread of
each worker process (and of ``transcriber up``); ``transcriber reconcile`` runs one pass.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
from dataclasses import dataclass, field
from functools import partial

from adapter.accounts import controls, open_secret
from adapter.errors import HelpdeskTokenRejected, TranscriberError
from adapter.helpdesk.reader import ChatwootReader, Pacer
from adapter.jobs.lease import heartbeat
from adapter.jobs.step import safe_error
from adapter.observability import Metric, metrics
from adapter.runtime import Runtime
from adapter.scan.sift import Counts
from adapter.scan.walk import Target, walk_for
from adapter.scan.window import Window, reconcile_grace, reconcile_window
from adapter.store import Account, ScanLease, Source, utcnow

log = logging.getLogger(__name__)

UNRECONCILED_HINT = (
    "no user token: not reconciled (an agent bot's token cannot list conversations); set one "
    "with `transcriber accounts update {id} --user-token TOKEN`"
)


@dataclass(frozen=True)
class AccountResult:
    """One enabled account's part of a pass: ``status`` is ``ok``, ``failed``,
    ``token_rejected``, ``no_user_token``, or ``busy`` (another process was scanning it).
    Disabled accounts are passed (their watermark follows the clock) and not reported."""

    account_id: int
    status: str
    counts: Counts = field(default_factory=Counts)
    error: str | None = None
    window: Window | None = None


def process_owner() -> str:
    """A lease holder's name: host, pid and a random part (pids repeat across containers)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def reader_for(rt: Runtime, account: Account, token: str) -> ChatwootReader:
    """A reader of ``account``'s Chatwoot with the configured request rate."""
    return ChatwootReader(
        rt.chatwoot,
        base_url=account.chatwoot_url,
        account_id=account.id,
        token=token,
        pacer=Pacer(rt.settings.chatwoot_requests_per_second),
    )


def target_of(
    account: Account,
    window: Window,
    source: Source,
    *,
    inbox_ids: tuple[int, ...] = (),
    dry_run: bool = False,
) -> Target:
    """A scan of ``account`` by its own rules (``adapter.controls``): only its inboxes (of
    ``inbox_ids``, those), only labelled conversations when it is on demand. ``ValueError``
    when none of ``inbox_ids`` is the account's."""
    wanted = controls(account)
    if wanted.inboxes is not None:
        asked = set(inbox_ids) & wanted.inboxes if inbox_ids else wanted.inboxes
        if not asked:
            raise ValueError(
                f"account {account.id} transcribes only inbox(es) "
                f"{', '.join(map(str, sorted(wanted.inboxes)))} (--inboxes)"
            )
        inbox_ids = tuple(sorted(asked))
    return Target(
        account.id,
        window,
        source,
        inbox_ids=inbox_ids,
        dry_run=dry_run,
        labelled_only=wanted.on_demand,
    )


def reconcile_account(
    rt: Runtime,
    account: Account,
    *,
    owner: str,
    grace: float,
    idle_for: float = 0.0,
    detached: bool = False,
) -> AccountResult:
    """Scan one account's window now, unless another process holds or just finished it.
    ``detached``: this process cannot reach the workers (a command without Redis): what it
    finds is left for the next recovery sweep of a running service."""
    lease = rt.scans.claim(account.id, owner, idle_for=idle_for)
    if lease is None:
        return AccountResult(account.id, "busy")
    if account.user_token_enc is None:
        error = UNRECONCILED_HINT.format(id=account.id)
        rt.scans.finish(lease, status="no_user_token", error=error, counts={}, watermark=None)
        return AccountResult(account.id, "no_user_token", error=error)
    scan = rt.scans.get(account.id)
    window = reconcile_window(
        watermark=scan.watermark if scan is not None else None,
        added_at=account.created_at,
        now=utcnow(),
        overlap=rt.settings.reconcile_overlap_seconds,
        grace=grace,
    )
    with heartbeat(
        partial(rt.scans.renew, lease),
        period=max(1.0, rt.settings.lease_seconds / 3),
        name=f"reconcile account {account.id}",
    ):
        return _scan(rt, account, lease, window, detached)


def _scan(
    rt: Runtime, account: Account, lease: ScanLease, window: Window, detached: bool
) -> AccountResult:
    counts = Counts()
    try:
        token = open_secret(rt.keyring, account.id, "user_token", account.user_token_enc or "")
        walk = walk_for(rt, reader_for(rt, account, token), detached=detached)
        walk.run(target_of(account, window, "reconcile"), counts)
    except Exception as exc:
        return _failed(rt, account, lease, window, counts, exc)
    rt.scans.finish(
        lease,
        status="ok",
        error=None,
        counts=counts.as_dict(),
        watermark=window.until,
        found=counts.queued,
    )
    _report_found(account.id, counts)
    return AccountResult(account.id, "ok", counts, None, window)


def _failed(
    rt: Runtime,
    account: Account,
    lease: ScanLease,
    window: Window,
    counts: Counts,
    exc: Exception,
) -> AccountResult:
    """Record why the scan stopped; the watermark stays, the next scan does it again."""
    status = "token_rejected" if isinstance(exc, HelpdeskTokenRejected) else "failed"
    if isinstance(exc, HelpdeskTokenRejected):
        error = (
            f"{safe_error(exc)}; set a valid user token with `transcriber accounts update "
            f"{account.id} --user-token TOKEN` (an administrator's token reads every inbox)"
        )
    else:
        error = safe_error(exc)
    if not isinstance(exc, TranscriberError):
        log.error("reconciling account %s failed", account.id, exc_info=exc)
    else:
        log.error("reconciling account %s stopped (%s): %s", account.id, status, error)
    metrics.incr(Metric.RECONCILE_FAILED)
    rt.scans.finish(
        lease,
        status=status,
        error=error,
        counts=counts.as_dict(),
        watermark=None,
        found=counts.queued,
    )
    _report_found(account.id, counts)
    return AccountResult(account.id, status, counts, error, window)


def _report_found(account_id: int, counts: Counts) -> None:
    metrics.incr(Metric.RECONCILE_SCANS)
    if counts.queued:
        metrics.incr(Metric.RECONCILE_FOUND, counts.queued)
        log.warning(
            "the reconciler found %d voice note(s) of account %s whose webhooks never arrived",
            counts.queued,
            account_id,
            extra={"account_id": account_id, "count": counts.queued},
        )


def reconcile(
    rt: Runtime,
    *,
    account_id: int | None = None,
    grace: float = 0.0,
    idle_for: float = 0.0,
    owner: str | None = None,
    detached: bool = False,
) -> list[AccountResult]:
    """One pass over the enabled accounts (or one account), each under its lease."""
    owner = owner or process_owner()
    results = []
    for account in rt.accounts.all():
        if account_id is not None and account.id != account_id:
            continue
        try:
            if not account.enabled:
                _pass_disabled(rt, account, owner)
                continue
            results.append(
                reconcile_account(
                    rt, account, owner=owner, grace=grace, idle_for=idle_for, detached=detached
                )
            )
        except Exception:  # the store itself failed: the next pass tries again
            log.exception("could not reconcile account %s", account.id)
            results.append(AccountResult(account.id, "failed", error="internal error"))
    return results


def _pass_disabled(rt: Runtime, account: Account, owner: str) -> None:
    """A disabled account is not scanned, and its watermark follows the clock: audio sent
    while it was disabled was refused on purpose (its webhooks answered 404), and enabling it
    again must not transcribe (and bill) all of it as lost webhooks."""
    lease = rt.scans.claim(account.id, owner)
    if lease is not None:
        rt.scans.finish(
            lease,
            status="disabled",
            error="account disabled: not reconciled",
            counts={},
            watermark=utcnow(),
        )


def start_reconciler(rt: Runtime) -> threading.Event | None:
    """A pass in a thread about every interval; None when the interval is 0 (off).

    The thread wakes every fifth of the interval (with jitter) and scans the accounts whose
    last scan, by any process, finished at least 0.9 interval ago: however many processes
    run it, each account is scanned about once an interval.
    """
    interval = rt.settings.reconcile_interval_seconds
    if interval <= 0:
        return None
    stop = threading.Event()
    owner = process_owner()
    grace = reconcile_grace(interval)

    def run() -> None:
        while not stop.wait(interval / 5 * random.uniform(0.8, 1.2)):
            try:
                reconcile(rt, grace=grace, idle_for=interval * 0.9, owner=owner)
            except Exception:
                log.exception("reconciliation pass failed")

    threading.Thread(target=run, name="reconciler", daemon=True).start()
    return stop


__all__ = [
    "UNRECONCILED_HINT",
    "AccountResult",
    "process_owner",
    "reader_for",
    "reconcile",
    "reconcile_account",
    "start_reconciler",
]
