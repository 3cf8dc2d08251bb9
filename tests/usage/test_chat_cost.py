"""The chat model's tokens (summaries, translations) priced per million and counted in usage."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from adapter.settings import Settings
from adapter.store.usage import ChatCell, UsageCell
from adapter.usage.prices import Prices
from adapter.usage.report import fold


def test_tokens_are_priced_per_million_input_and_output() -> None:
    prices = Prices()
    # gpt-4o-mini: 0.15 per million in, 0.60 per million out
    assert prices.chat_cost("gpt-4o-mini", 1_000_000, 0) == pytest.approx(0.15)
    assert prices.chat_cost("gpt-4o-mini", 2000, 500) == pytest.approx(0.0006)
    assert prices.chat_cost("llama3.1:8b", 10**9, 10**9) == 0.0  # self-hosted: unknown
    assert prices.chat_unpriced("llama3.1:8b") and not prices.chat_unpriced("gpt-4o-mini")
    assert not prices.chat_unpriced(None)


def test_chat_prices_can_be_overridden() -> None:
    prices = Prices.with_overrides({}, {"llama3.1:8b": (1.0, 2.0), "gpt-4o-mini": (0.0, 0.0)})
    assert prices.chat_cost("llama3.1:8b", 1_000_000, 1_000_000) == pytest.approx(3.0)
    assert prices.chat_cost("gpt-4o-mini", 10**6, 10**6) == 0.0
    assert prices.chat_cost("gpt-4o", 10**6, 0) == pytest.approx(2.5)  # built-in kept


def test_the_chat_cost_adds_to_the_rows_of_its_key() -> None:
    audio = [UsageCell(3, "openai", "whisper-1", 2, 120.0, 120.0, 0, 0)]
    chat = [ChatCell(3, "gpt-4o-mini", 1_000_000, 1_000_000), ChatCell(4, "gpt-4o-mini", 0, 10)]
    report = fold("account", audio, Prices(), chat)
    three, four = report.rows
    assert three.cost_usd == pytest.approx(0.012 + 0.75)
    assert three.chat_cost_usd == pytest.approx(0.75)
    assert three.chat_tokens == 2_000_000
    assert (four.key, four.transcriptions, four.chat_tokens) == (4, 0, 10)
    assert report.totals.cost_usd == pytest.approx(three.cost_usd + four.cost_usd)
    shown = report.as_json()
    assert shown["rows"][0]["chat_tokens"] == 2_000_000
    assert shown["totals"]["chat_cost_usd"] == pytest.approx(0.75 + 0.000006)


def test_an_unknown_chat_model_is_named_unpriced() -> None:
    report = fold("day", [], Prices(), [ChatCell("2026-12-06", "mistral-small", 100, 100)])
    assert report.unpriced == ["mistral-small"]
    assert report.totals.cost_usd == 0.0


@pytest.mark.parametrize(
    "value",
    [
        '{"gpt-4o-mini": 0.15}',
        '{"gpt-4o-mini": [0.15]}',
        '{"gpt-4o-mini": [0.15, -1]}',
        '{"gpt-4o-mini": [true, 1]}',
        '{"gpt-4o-mini": ["0.1", 1]}',
        '{"": [0.1, 1]}',
        "[1, 2]",
        "{not json",
    ],
)
def test_bad_chat_prices_are_refused_by_name(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TRANSCRIBER_CHAT_PRICES", value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert "TRANSCRIBER_CHAT_PRICES" in str(caught.value)


def test_chat_prices_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSCRIBER_CHAT_PRICES", '{"llama3.1:8b": [0.05, 0.1]}')
    assert Settings().chat_prices == {"llama3.1:8b": (0.05, 0.1)}
