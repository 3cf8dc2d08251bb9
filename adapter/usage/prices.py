"""What audio costs: USD per minute of audio sent to the engine, by model; and what the chat
model's summaries and translations cost: USD per million tokens, input and output.

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
#: OpenAI's list prices of chat models, USD per million tokens (input, output)
CHAT_BUILT_IN: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "gpt-4o-mini": (0.15, 0.60),
        "gpt-4o": (2.50, 10.00),
        "gpt-4.1-mini": (0.40, 1.60),
        "gpt-4.1-nano": (0.10, 0.40),
        "gpt-4.1": (2.00, 8.00),
    }
)


@dataclass(frozen=True)
class Prices:
    per_minute: Mapping[str, float] = field(default_factory=lambda: BUILT_IN)
    per_million_tokens: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: CHAT_BUILT_IN
    )

    @classmethod
    def with_overrides(
        cls,
        overrides: Mapping[str, float],
        chat: Mapping[str, tuple[float, float]] | None = None,
    ) -> Prices:
        return cls(
            MappingProxyType({**BUILT_IN, **overrides}),
            MappingProxyType({**CHAT_BUILT_IN, **(chat or {})}),
        )

    def price(self, engine: str | None, model: str | None) -> float:
        """USD per minute for ``model`` on ``engine`` (0 when unknown)."""
        return self.per_minute.get(model or "", 0.0)

    def unpriced(self, engine: str | None, model: str | None) -> bool:
        """A paid engine's model that the table does not know (its cost shows as 0)."""
        return engine not in (None, LOCAL) and (model or "") not in self.per_minute

    def cost(self, engine: str | None, model: str | None, billed_seconds: float) -> float:
        """USD for ``billed_seconds`` of audio sent to ``model``."""
        return billed_seconds / 60.0 * self.price(engine, model)

    def chat_cost(self, model: str | None, input_tokens: int, output_tokens: int) -> float:
        """USD for the tokens a chat model read and wrote (0 for a model the table does not
        know: a self-hosted one costs nothing here)."""
        per_input, per_output = self.per_million_tokens.get(model or "", (0.0, 0.0))
        return (input_tokens * per_input + output_tokens * per_output) / 1_000_000

    def chat_unpriced(self, model: str | None) -> bool:
        return model is not None and model not in self.per_million_tokens


__all__ = ["BUILT_IN", "CHAT_BUILT_IN", "Prices"]
