"""A usage report: the store's cells (per key, engine and model) priced and summed per key.

Pure: ``fold`` turns :class:`~adapter.store.usage.UsageCell` rows into :class:`UsageRow`
rows, the totals and the models nobody priced; ``as_json`` is the shape of ``transcriber
usage --json`` and ``GET /api/v1/usage``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from adapter.store.usage import ChatCell, UsageCell
from adapter.usage.prices import Prices

#: decimals of the figures shown (seconds to the millisecond, dollars to a millionth)
SECONDS_DIGITS = 3
USD_DIGITS = 6


@dataclass(frozen=True)
class UsageRow:
    key: str | int | None
    transcriptions: int = 0
    audio_seconds: float = 0.0
    billed_seconds: float = 0.0
    cost_usd: float = 0.0
    failed: int = 0
    skipped: int = 0
    #: the chat model's tokens (summaries, translations) and their part of ``cost_usd``
    chat_tokens: int = 0
    chat_cost_usd: float = 0.0

    def __add__(self, other: UsageRow) -> UsageRow:
        return replace(
            self,
            transcriptions=self.transcriptions + other.transcriptions,
            audio_seconds=self.audio_seconds + other.audio_seconds,
            billed_seconds=self.billed_seconds + other.billed_seconds,
            cost_usd=self.cost_usd + other.cost_usd,
            failed=self.failed + other.failed,
            skipped=self.skipped + other.skipped,
            chat_tokens=self.chat_tokens + other.chat_tokens,
            chat_cost_usd=self.chat_cost_usd + other.chat_cost_usd,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "transcriptions": self.transcriptions,
            "audio_seconds": round(self.audio_seconds, SECONDS_DIGITS),
            "billed_seconds": round(self.billed_seconds, SECONDS_DIGITS),
            "cost_usd": round(self.cost_usd, USD_DIGITS),
            "failed": self.failed,
            "skipped": self.skipped,
            "chat_tokens": self.chat_tokens,
            "chat_cost_usd": round(self.chat_cost_usd, USD_DIGITS),
        }


@dataclass(frozen=True)
class UsageReport:
    by: str
    rows: list[UsageRow]
    totals: UsageRow
    #: paid models the price table does not know: their cost shows as 0
    unpriced: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        totals = self.totals.as_json()
        del totals["key"]
        answer: dict[str, Any] = {
            "by": self.by,
            "rows": [row.as_json() for row in self.rows],
            "totals": totals,
        }
        if self.unpriced:
            answer["unpriced_models"] = self.unpriced
        return answer


def _order(key: str | int | None) -> tuple[int, str | int]:
    """Keys in order (days and months by date, ids by number), the unknown key last."""
    if key is None:
        return (2, "")
    return (0, key) if isinstance(key, int) else (1, key)


def fold(
    by: str, cells: Iterable[UsageCell], prices: Prices, chat: Iterable[ChatCell] = ()
) -> UsageReport:
    """Price and sum ``cells`` per key; the chat model's tokens (``chat``) add their cost to
    the same keys' rows (a key with chat tokens only gets a row of its own)."""
    rows: dict[str | int | None, UsageRow] = {}
    unpriced: set[str] = set()
    for cell in cells:
        if cell.billed_seconds and prices.unpriced(cell.engine, cell.model):
            unpriced.add(cell.model or "?")
        part = UsageRow(
            key=cell.key,
            transcriptions=cell.transcriptions,
            audio_seconds=cell.audio_seconds,
            billed_seconds=cell.billed_seconds,
            cost_usd=prices.cost(cell.engine, cell.model, cell.billed_seconds),
            failed=cell.failed,
            skipped=cell.skipped,
        )
        rows[cell.key] = rows[cell.key] + part if cell.key in rows else part
    for tokens in chat:
        if prices.chat_unpriced(tokens.model):
            unpriced.add(tokens.model)
        cost = prices.chat_cost(tokens.model, tokens.input_tokens, tokens.output_tokens)
        part = UsageRow(
            key=tokens.key,
            cost_usd=cost,
            chat_tokens=tokens.input_tokens + tokens.output_tokens,
            chat_cost_usd=cost,
        )
        rows[tokens.key] = rows[tokens.key] + part if tokens.key in rows else part
    ordered = [rows[key] for key in sorted(rows, key=_order)]
    totals = sum(ordered, UsageRow(key=None))
    return UsageReport(by, ordered, totals, sorted(unpriced))


__all__ = ["UsageReport", "UsageRow", "fold"]
