"""How often one client address may get the admin token wrong: pure, with an injectable clock.

After :data:`LIMIT` failed sign-ins from one address within :data:`WINDOW_SECONDS`, that
address is refused (429, with a Retry-After) without its token being checked, until the oldest
of those failures is :data:`WINDOW_SECONDS` old; a successful sign-in forgets its failures.
Refused attempts are not counted, so waiting always ends the refusal.

The counts live in the process's memory: each web process counts for itself (with N
processes an address gets up to N times LIMIT tries a window), and a restart forgets them. At
most :data:`MAX_CLIENTS` addresses are remembered; past that the one that failed least
recently is forgotten first.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

LIMIT = 5
WINDOW_SECONDS = 15 * 60.0
MAX_CLIENTS = 10_000


class SignInThrottle:
    """Failed sign-ins per client address over a sliding window."""

    def __init__(
        self,
        *,
        limit: int = LIMIT,
        window: float = WINDOW_SECONDS,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window <= 0 or max_clients < 1:
            raise ValueError("limit, window and max_clients must be positive")
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._clock = clock
        #: address → the times of its recent failures, oldest first; least recent address first
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, client: str, now: float) -> deque[float] | None:
        times = self._failures.get(client)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[client]
            return None
        return times

    def retry_after(self, client: str) -> float | None:
        """Seconds until ``client`` may try again, or None when it may try now."""
        now = self._clock()
        times = self._recent(client, now)
        if times is None or len(times) < self.limit:
            return None
        return max(times[-self.limit] + self.window - now, 0.0)

    def failed(self, client: str) -> None:
        """``client`` gave a wrong token."""
        now = self._clock()
        times = self._recent(client, now)
        if times is None:
            times = self._failures[client] = deque(maxlen=self.limit)
        times.append(now)
        self._failures.move_to_end(client)
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        """``client`` signed in: its failures are forgotten."""
        self._failures.pop(client, None)

    def __len__(self) -> int:
        """How many addresses are remembered."""
        return len(self._failures)


__all__ = ["LIMIT", "MAX_CLIENTS", "WINDOW_SECONDS", "SignInThrottle"]
