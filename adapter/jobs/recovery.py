"""Work outside the actors: find lost work, retry by command, count for ``status``.

The recovery sweep (:func:`recover`) runs every ``TRANSCRIBER_RECOVERY_INTERVAL_SECONDS`` in
every worker process and under ``transcriber up`` (``adapter.jobs.background``), and once when
``up`` starts. It sends again the unfinished rows whose work was lost:

- a lease that ran out (``TRANSCRIBER_LEASE_SECONDS``, renewed while the holder lives:
  ``adapter.jobs.lease``): its worker died, killed or out of memory, mid-step; a dead worker's
  work is sent again within :func:`takeback_within` seconds, 96 by default;
- no lease, and no move for ``TRANSCRIBER_STUCK_AFTER_SECONDS`` (work that is queued or waits
  for a retry): its broker message was lost, e.g. Redis restarted without persistence;
- a row retried by command (:func:`retry_one`: its lease is set to run out at once), so that
  ``transcriber retry`` works within one sweep even when its own message reaches no worker
  (``transcriber up``'s in-process broker, which another process cannot reach);
- a failure note still owed whose lease ran out, or whose row has not moved for
  ``TRANSCRIBER_STUCK_AFTER_SECONDS`` (``adapter.jobs.failure_note``).

Sending it again is harmless: every step claims its row by compare-and-set, and a planned
transcription is only dispatched (its lost chunks).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from adapter.jobs.broker import queue_depth
from adapter.observability import Metric, metrics
from adapter.runtime import Runtime
from adapter.settings import Settings
from adapter.store import NotRetryable, State
from adapter.views import transcription_view

log = logging.getLogger(__name__)

#: each sweep waits its period times a random factor up to this (``adapter.jobs.background``)
SWEEP_JITTER = 1.2


def takeback_within(settings: Settings) -> float:
    """At most this many seconds after a worker dies, a sweep sends its work again: the last
    beat's lease runs out, then the next sweep comes."""
    return settings.lease_seconds + settings.recovery_interval_seconds * SWEEP_JITTER


def _send(rt: Runtime, transcription_id: int, state: State) -> None:
    if state is State.transcribed:
        rt.queue.deliver(transcription_id)
    else:
        rt.queue.transcribe(transcription_id)


def retry_one(rt: Runtime, transcription_id: int) -> dict[str, Any]:
    """Re-queue one failed or skipped transcription now (``NotRetryable``): its message is
    sent here, and the ledger leaves it due for the next sweep of any process too."""
    row = rt.ledger.retry(transcription_id)
    _send(rt, transcription_id, State(row.state))
    return transcription_view(row, rt.prices)


def retry_many(rt: Runtime, *, account_id: int | None, state: str) -> list[int]:
    done = []
    for tid in rt.ledger.ids_in_state(State(state), account_id=account_id):
        try:
            retry_one(rt, tid)
            done.append(tid)
        except NotRetryable:
            continue  # changed state meanwhile
    return done


def recover(rt: Runtime, *, stuck_after: float | None = None) -> list[int]:
    """Re-enqueue unfinished rows whose lease ran out, or that have no lease and did not move
    for ``stuck_after`` seconds (``TRANSCRIBER_STUCK_AFTER_SECONDS`` unless told), then the
    failure notes lost likewise; the ids sent."""
    age = rt.settings.stuck_after_seconds if stuck_after is None else stuck_after
    states = dict(rt.ledger.lost(age))
    owed = rt.ledger.notes_owed(age)
    _gauges(rt)
    sent = _resend(states, lambda tid: _send(rt, tid, states[tid]), "stuck transcription")
    return sent + _resend(owed, rt.queue.failure_note, "failure note")


def _resend(ids: Iterable[int], send: Callable[[int], None], what: str) -> list[int]:
    """``send`` each id; the ids sent (one that cannot be is logged, and found again)."""
    sent = []
    for tid in ids:
        try:
            send(tid)
            sent.append(tid)
        except Exception:
            log.exception("could not re-enqueue the %s of transcription %s", what, tid)
    if sent:
        log.warning("re-enqueued %d %s(s)", len(sent), what, extra={"count": len(sent)})
    return sent


def _gauges(rt: Runtime) -> None:
    """Queue depth and rows per state, sent with every recovery sweep."""
    try:
        for state, count in rt.ledger.counts().items():
            metrics.gauge(Metric.for_state(state), count)
        for queue, depth in queue_depth(rt.broker).items():
            metrics.gauge(Metric.queue_depth(queue), depth)
    except Exception:
        log.warning("could not compute gauges")


def status_counts(rt: Runtime) -> dict[str, Any]:
    counts = rt.ledger.counts()
    active = [transcription_view(r, rt.prices) for r in rt.ledger.in_progress()]
    try:
        depth: dict[str, int] | None = queue_depth(rt.broker)
    except Exception:
        depth = None
    return {
        "states": counts,
        "queue_depth": depth,
        "in_progress": [
            {"id": v["id"], "progress": v["progress"], "percent": v["progress"]["percent"]}
            for v in active
        ],
    }


__all__ = [
    "SWEEP_JITTER",
    "recover",
    "retry_many",
    "retry_one",
    "status_counts",
    "takeback_within",
]
