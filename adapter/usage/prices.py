"""What audio costs: USD per minute of audio sent to the engine, by model.

The built-in table holds OpenAI's list prices; ``TRANSCRIBER_PRICES`` is merged over it. The
offline engine costs nothing unless the table names its model (its minutes are still
counted). A paid engine's model the table does not know costs 0 and is ``unpriced``: the
usage report says so rather than inventing a price.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: OpenAI's list prices, USD per audio minute
BUILT_IN: Mapping[str, float] = MappingProxyType(
    {"whisper-1": 0.006, "gpt-4o-transcribe": 0.006, "gpt-4o-mini-transcribe": 0.003}
)
LOCAL = "local"


@dataclass(frozen=True)
class Prices:
    per_minute: Mapping[str, float] = field(default_factory=lambda: BUILT_IN)

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, float]) -> Prices:
        return cls(MappingProxyType({**BUILT_IN, **overrides}))

    def price(self, engine: str | None, model: str | None) -> float:
        """USD per minute for ``model`` on ``engine`` (0 when unknown)."""
        return self.per_minute.get(model or "", 0.0)

    def unpriced(self, engine: str | None, model: str | None) -> bool:
        """A paid engine's model that the table does not know (its cost shows as 0)."""
        return engine not in (None, LOCAL) and (model or "") not in self.per_minute

    def cost(self, engine: str | None, model: str | None, billed_seconds: float) -> float:
        """USD for ``billed_seconds`` of audio sent to ``model``."""
        return billed_seconds / 60.0 * self.price(engine, model)


__all__ = ["BUILT_IN", "Prices"]
