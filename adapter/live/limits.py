"""How many streams each account has open in this process (``TRANSCRIBER_STREAM_MAX_PER_ACCOUNT``).

Counted per process, on its event loop: a crashed process takes its streams, and their count,
with it. Under ``transcriber serve --workers N`` each worker process counts its own.
"""

from __future__ import annotations

from collections import Counter


class StreamSlots:
    def __init__(self, per_account: int) -> None:
        self.per_account = per_account
        self._open: Counter[int] = Counter()

    def take(self, account_id: int) -> bool:
        """One more stream for the account, unless it has ``per_account`` already."""
        if self._open[account_id] >= self.per_account:
            return False
        self._open[account_id] += 1
        return True

    def give_back(self, account_id: int) -> None:
        self._open[account_id] -= 1
        if self._open[account_id] <= 0:
            del self._open[account_id]

    def open(self, account_id: int) -> int:
        return self._open[account_id]


__all__ = ["StreamSlots"]
