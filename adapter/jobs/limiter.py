"""One limit on engine calls in flight per account, across every process and every chunk.

A Dramatiq ``ConcurrentRateLimiter`` per account (Redis-backed with a Redis broker, so every
worker process counts against the same slots; in-process otherwise). It is held around each
engine call and nothing else: a long recording's chunks and the account's short voice notes
share the same ``TRANSCRIBER_ACCOUNT_CONCURRENCY`` slots. A slot whose holder died is freed
after ``ttl`` (the call's timeout plus a margin).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dramatiq.rate_limits import ConcurrentRateLimiter, RateLimiterBackend

#: added to an engine call's timeout for the slot's time to live
TTL_MARGIN_SECONDS = 30.0


class AccountLimiter:
    def __init__(self, backend: RateLimiterBackend, limit: int) -> None:
        self.backend = backend
        self.limit = limit

    @contextmanager
    def slot(self, account_id: int, timeout_seconds: float) -> Iterator[bool]:
        """Yield True while holding one of the account's slots, False when all are taken."""
        limiter = ConcurrentRateLimiter(  # type: ignore[no-untyped-call]
            self.backend,
            f"transcriber:account:{account_id}",
            limit=self.limit,
            ttl=int((timeout_seconds + TTL_MARGIN_SECONDS) * 1000),
        )
        with limiter.acquire(raise_on_failure=False) as acquired:
            yield bool(acquired)


__all__ = ["AccountLimiter"]
