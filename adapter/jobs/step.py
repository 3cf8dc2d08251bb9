"""What a step tells its actor, and how a step's failures are told to the operator.

Every retry is logged at WARNING with its cause; a final failure at ERROR (and so to Sentry,
whose logging integration turns ERROR records into events). Messages are redacted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from dramatiq.middleware.time_limit import TimeLimitExceeded

from adapter.errors import (
    EngineUnavailable,
    PermanentError,
    Reason,
    Skipped,
    TranscriberError,
    TransientError,
)
from adapter.jobs.backoff import Backoff
from adapter.observability import Metric, metrics
from adapter.observability.redact import redact_text

log = logging.getLogger("adapter.jobs")


@dataclass(frozen=True)
class StepResult:
    """``retry_in_ms`` set: the actor raises ``dramatiq.Retry`` with that delay; ``deliver``:
    the transcription whose transcript is ready, to deliver now; ``failure_note``: the
    transcription that ended owing its agents a failure note, to post now."""

    retry_in_ms: int | None = None
    deliver: int | None = None
    failure_note: int | None = None


def safe_error(exc: BaseException) -> str:
    """A message about ``exc`` fit to store and show: ours redacted, others by type only."""
    if isinstance(exc, TranscriberError):
        return redact_text(str(exc))[:1000]
    return f"internal error ({type(exc).__name__})"


def reason_of(exc: BaseException) -> Reason:
    return exc.reason if isinstance(exc, TranscriberError) else Reason.internal


def transient(exc: BaseException) -> TransientError | None:
    return exc if isinstance(exc, TransientError) else None


def log_retry(what: str, attempt: int, limit: int, exc: BaseException, delay_ms: int) -> None:
    log.warning(
        "%s: attempt %d of %d failed (%s: %s); retrying in %.1f s",
        what,
        attempt,
        limit,
        reason_of(exc),
        safe_error(exc),
        delay_ms / 1000,
        extra={"reason": str(reason_of(exc)), "attempt": attempt},
    )


def log_failure(what: str, exc: BaseException, *, attempts: int | None = None) -> None:
    after = f" after {attempts} attempts" if attempts else ""
    log.error(
        "%s failed%s (%s): %s",
        what,
        after,
        reason_of(exc),
        safe_error(exc),
        extra={"reason": str(reason_of(exc))},
    )


def timed_out(exc: BaseException, what: str) -> Exception:
    """Dramatiq's time limit (an interrupt, not an ``Exception``) as the transient error it
    is, so that it is judged, counted and logged like any other; other errors as they are."""
    if isinstance(exc, TimeLimitExceeded):
        return EngineUnavailable(f"{what} ran past its time limit")
    assert isinstance(exc, Exception)
    return exc


def lost_attempts(attempts: int) -> PermanentError:
    """What ends work whose every attempt died without a verdict (killed worker, crash)."""
    return PermanentError(
        f"gave up after {attempts} attempts: the worker running it stopped each time "
        "(killed, out of memory, or crashed on this audio)"
    )


@dataclass(frozen=True)
class Verdict:
    """What a failed attempt leads to (pure: decided from the error tree and the count)."""

    outcome: Literal["skipped", "failed", "retry"]
    reason: Reason
    error: str
    delay_ms: int = 0


def judge(exc: BaseException, attempt: int, backoff: Backoff) -> Verdict:
    """Skip for a :class:`Skipped`; fail for a permanent error or the last attempt; else retry
    after the backoff (or the server's Retry-After)."""
    reason, error = reason_of(exc), safe_error(exc)
    if isinstance(exc, Skipped):
        return Verdict("skipped", reason, error)
    if isinstance(exc, PermanentError):
        return Verdict("failed", reason, error)
    if backoff.exhausted(attempt):
        return Verdict("failed", reason, f"gave up after {attempt} attempts: {error}")
    return Verdict("retry", reason, error, backoff.delay_ms(attempt, transient(exc)))


_OUTCOME_METRICS = {
    "skipped": Metric.TRANSCRIPTION_SKIPPED,
    "failed": Metric.TRANSCRIPTION_FAILED,
    "retry": Metric.TRANSCRIPTION_RETRIED,
}


def report(what: str, exc: BaseException, verdict: Verdict, attempt: int, limit: int) -> None:
    """Log the verdict (a bug with its traceback) and count it."""
    if not isinstance(exc, TranscriberError):
        log.error("unexpected error in %s", what, exc_info=exc)
    if verdict.outcome == "skipped":
        log.info("%s skipped (%s): %s", what, verdict.reason, verdict.error)
    elif verdict.outcome == "failed":
        log_failure(what, exc, attempts=attempt if transient(exc) else None)
    else:
        log_retry(what, attempt, limit, exc, verdict.delay_ms)
    metrics.incr(_OUTCOME_METRICS[verdict.outcome])


__all__ = [
    "StepResult",
    "Verdict",
    "judge",
    "log_failure",
    "log_retry",
    "lost_attempts",
    "reason_of",
    "report",
    "safe_error",
    "timed_out",
    "transient",
]
