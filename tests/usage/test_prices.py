"""The price table: cost is billed minutes times the price, overrides merge over the built-in table,
the offline engine costs nothing, and a paid model nobody priced is said to be unpriced."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from adapter.usage.prices import BUILT_IN, LOCAL, Prices
from tests.helpers import make_settings

seconds = st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False)
priced_models = st.sampled_from(sorted(BUILT_IN))


def test_the_built_in_table_holds_openais_list_prices() -> None:
    prices = Prices()
    assert prices.price("openai", "whisper-1") == 0.006
    assert prices.price("openai", "gpt-4o-transcribe") == 0.006
    assert prices.price("openai", "gpt-4o-mini-transcribe") == 0.003
    assert prices.cost("openai", "whisper-1", 60.0) == pytest.approx(0.006)
    assert prices.cost("openai", "gpt-4o-mini-transcribe", 90.0) == pytest.approx(0.0045)
    assert prices.cost("openai", "whisper-1", 0.0) == 0.0


@settings(max_examples=80, deadline=None)
@given(model=priced_models, billed=seconds)
def test_cost_is_billed_minutes_times_the_price(model: str, billed: float) -> None:
    prices = Prices()
    assert prices.cost("openai", model, billed) == pytest.approx(billed / 60 * BUILT_IN[model])
    assert not prices.unpriced("openai", model)


@settings(max_examples=40, deadline=None)
@given(model=st.sampled_from(["base", "tiny.en", "small", "large-v3"]), billed=seconds)
def test_the_local_engine_costs_nothing_and_is_not_unpriced(model: str, billed: float) -> None:
    prices = Prices()
    assert prices.cost(LOCAL, model, billed) == 0.0
    assert not prices.unpriced(LOCAL, model)


def test_a_paid_model_the_table_does_not_know_costs_0_and_is_unpriced() -> None:
    prices = Prices()
    assert prices.price("openai", "whisper-2") == 0.0
    assert prices.cost("openai", "whisper-2", 600.0) == 0.0
    assert prices.unpriced("openai", "whisper-2")
    assert prices.unpriced("openai", None)  # a paid engine without a model
    # nothing was sent to any engine (queued, failed before): nothing to price
    assert not prices.unpriced(None, None)
    assert not prices.unpriced(None, "whisper-2")


def test_overrides_merge_over_the_built_in_table() -> None:
    prices = Prices.with_overrides({"whisper-1": 0.01, "my-model": 0.5})
    assert prices.price("openai", "whisper-1") == 0.01  # changed
    assert prices.price("openai", "gpt-4o-mini-transcribe") == 0.003  # kept
    assert prices.price("openai", "my-model") == 0.5  # added
    assert not prices.unpriced("openai", "my-model")
    assert BUILT_IN["whisper-1"] == 0.006  # the built-in table is untouched
    with pytest.raises(TypeError):
        prices.per_minute["whisper-1"] = 1.0  # type: ignore[index]


def test_an_override_can_price_the_local_model_and_make_a_paid_one_free() -> None:
    prices = Prices.with_overrides({"base": 0.001, "whisper-1": 0})
    assert prices.cost(LOCAL, "base", 600.0) == pytest.approx(0.01)
    assert prices.cost("openai", "whisper-1", 600.0) == 0.0
    assert not prices.unpriced("openai", "whisper-1")  # priced at 0 on purpose


def test_transcriber_prices_reaches_the_table(tmp_path: Path) -> None:
    cfg = make_settings(
        "sqlite://",
        tmp_path,
        "k",
        TRANSCRIBER_PRICES='{"whisper-1": 0.012, "gpt-4o-transcribe": 0}',
    )
    prices = Prices.with_overrides(cfg.prices)
    assert prices.cost("openai", "whisper-1", 120.0) == pytest.approx(0.024)
    assert prices.cost("openai", "gpt-4o-transcribe", 120.0) == 0.0
    assert prices.cost("openai", "gpt-4o-mini-transcribe", 120.0) == pytest.approx(0.006)
    unset = make_settings("sqlite://", tmp_path, "k")
    assert dict(Prices.with_overrides(unset.prices).per_minute) == dict(BUILT_IN)


@pytest.mark.parametrize(
    "value",
    ['{"whisper-1": -1}', '{"whisper-1": true}', '{"whisper-1": "cheap"}', "[1]", "not json"],
)
def test_a_malformed_transcriber_prices_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ValidationError, match=r"TRANSCRIBER_PRICES|prices"):
        make_settings("sqlite://", tmp_path, "k", TRANSCRIBER_PRICES=value)


@settings(max_examples=60, deadline=None)
@given(
    overrides=st.dictionaries(
        st.sampled_from([*BUILT_IN, "x-model", "base"]),
        st.floats(min_value=0, max_value=10, allow_nan=False),
        max_size=4,
    ),
    model=st.sampled_from([*BUILT_IN, "x-model", "base", "unknown"]),
    billed=seconds,
)
def test_an_override_wins_and_everything_else_is_built_in(
    overrides: dict[str, float], model: str, billed: float
) -> None:
    prices = Prices.with_overrides(overrides)
    expected = overrides.get(model, BUILT_IN.get(model, 0.0))
    assert prices.price("openai", model) == expected
    assert math.isclose(prices.cost("openai", model, billed), billed / 60 * expected)
