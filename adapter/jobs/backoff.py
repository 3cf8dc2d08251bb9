"""The one retry policy: how long a step waits before its next attempt.

The server's ``Retry-After`` wins when it gave one (bounded to ``[0.5 s, 1 h]``); otherwise
exponential from ``base`` (doubling per attempt) up to ``cap``, with ±20 % jitter so that
retries of many rows do not arrive together. ``TRANSCRIBER_RETRY_BASE_SECONDS`` and
``TRANSCRIBER_RETRY_MAX_SECONDS`` set it; ``TRANSCRIBER_MAX_ATTEMPTS`` bounds the attempts
(a delivery's: ``TRANSCRIBER_DELIVERY_MAX_ATTEMPTS``, ``adapter.jobs.deliver.policy``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from adapter.errors import TransientError

MIN_RETRY_AFTER = 0.5
MAX_RETRY_AFTER = 3600.0


@dataclass(frozen=True)
class Backoff:
    base: float = 2.0  # seconds before the second attempt
    cap: float = 300.0  # seconds at most
    max_attempts: int = 5
    jitter: Callable[[], float] = field(default=lambda: random.uniform(0.8, 1.2), repr=False)

    def delay_ms(self, attempt: int, error: TransientError | None = None) -> int:
        """Milliseconds to wait after attempt number ``attempt`` (1-based) failed."""
        if error is not None and error.retry_after is not None:
            return int(min(max(error.retry_after, MIN_RETRY_AFTER), MAX_RETRY_AFTER) * 1000)
        seconds = min(self.base * 2 ** max(attempt - 1, 0), self.cap)
        return int(seconds * self.jitter() * 1000)

    def exhausted(self, attempt: int) -> bool:
        return attempt >= self.max_attempts


__all__ = ["Backoff"]
