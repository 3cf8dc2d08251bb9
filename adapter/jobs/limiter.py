"""One limit on engine calls in flight per account, across every process and every chunk.

A Dramatiq ``ConcurrentRateLimiter`` per account (Redis-backed with a Redis broker, so every
worker process counts against the same slots; in-process otherwise). It is held around each
engine call and nothing else: a long recording's chunks and the account's short voice notes
share the same ``TRANSCRIBER_ACCOUNT_CONCURRENCY`` slots. A slot whose holder died is freed
after ``ttl_seconds``: one value for every call of the deployment (the longest chunk's timeout
plus a margin), because Dramatiq keeps one counter per account whose expiry every acquire and
release resets: a shorter ttl given by a short call would let a long call's slot lapse.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dramatiq.rate_limits import ConcurrentRateLimiter, RateLimiterBackend

#: added to the longest engine call's timeout (and its message's time-limit margin)
TTL_MARGIN_SECONDS = 90.0


class AccountLimiter:
    def __init__(self, backend: RateLimiterBackend, limit: int, ttl_seconds: float) -> None:
        self.backend = backend
        self.limit = limit
        self.ttl_ms = int(ttl_seconds * 1000)

    @contextmanager
    def slot(self, account_id: int) -> Iterator[bool]:
        """Yield True while holding one of the account's slots, False when all are taken."""
        limiter = ConcurrentRateLimiter(  # type: ignore[no-untyped-call]
            self.backend, f"transcriber:account:{account_id}", limit=self.limit, ttl=self.ttl_ms
        )
        with limiter.acquire(raise_on_failure=False) as acquired:
            yield bool(acquired)


__all__ = ["TTL_MARGIN_SECONDS", "AccountLimiter"]
