"""``fold``: the store's cells priced and summed per key, in order, with totals that are the
sum of the rows and the paid models nobody priced."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.store.usage import UsageCell
from adapter.usage.prices import Prices
from adapter.usage.report import UsageRow, fold

PRICES = Prices()


def cell(key, engine="openai", model="whisper-1", n=1, audio=0.0, billed=0.0, failed=0, skipped=0):
    return UsageCell(key, engine, model, n, audio, billed, failed, skipped)


def test_cells_of_one_key_become_one_row_priced_per_model() -> None:
    report = fold(
        "account",
        [
            cell(3, "openai", "whisper-1", n=2, audio=130.0, billed=120.0, failed=1),
            cell(3, "openai", "gpt-4o-mini-transcribe", n=1, audio=60.0, billed=60.0),
            cell(3, "local", "base", n=4, audio=600.0, billed=600.0, skipped=2),
            cell(4, "openai", "whisper-1", n=1, audio=30.0, billed=30.0),
        ],
        PRICES,
    )
    assert [row.key for row in report.rows] == [3, 4]
    three, four = report.rows
    assert three.transcriptions == 7
    assert three.audio_seconds == 790.0 and three.billed_seconds == 780.0
    # 2 min of whisper-1 at 0.006 + 1 min of mini at 0.003 + 10 local minutes at 0
    assert three.cost_usd == pytest.approx(0.015)
    assert (three.failed, three.skipped) == (1, 2)
    assert four.cost_usd == pytest.approx(0.003)
    assert report.totals == UsageRow(
        key=None,
        transcriptions=8,
        audio_seconds=820.0,
        billed_seconds=810.0,
        cost_usd=pytest.approx(0.018),
        failed=1,
        skipped=2,
    )
    assert report.unpriced == []


def test_keys_are_in_order_ids_by_number_dates_by_date_the_unknown_last() -> None:
    ids = fold("inbox", [cell(None), cell(10), cell(9), cell(100)], PRICES)
    assert [row.key for row in ids.rows] == [9, 10, 100, None]
    days = fold(
        "day", [cell("2026-01-10"), cell(None), cell("2025-12-31"), cell("2026-01-02")], PRICES
    )
    assert [row.key for row in days.rows] == ["2025-12-31", "2026-01-02", "2026-01-10", None]


def test_unpriced_lists_paid_models_that_were_billed_only() -> None:
    report = fold(
        "model",
        [
            cell("whisper-9", "openai", "whisper-9", billed=60.0),
            cell(None, "openai", None, billed=5.0),
            cell("never-sent", "openai", "never-sent", failed=1),  # no billed seconds
            cell("base", "local", "base", billed=60.0),  # offline: free, not unpriced
            cell("whisper-9", "openai", "whisper-9", billed=1.0),
        ],
        PRICES,
    )
    assert report.unpriced == ["?", "whisper-9"]
    assert report.totals.cost_usd == 0.0
    assert report.as_json()["unpriced_models"] == ["?", "whisper-9"]


def test_the_json_shape() -> None:
    report = fold("day", [cell("2026-02-01", audio=1 / 3, billed=1 / 3)], PRICES)
    answer = report.as_json()
    assert answer == {
        "by": "day",
        "rows": [
            {
                "key": "2026-02-01",
                "transcriptions": 1,
                "audio_seconds": 0.333,
                "billed_seconds": 0.333,
                "cost_usd": round(1 / 3 / 60 * 0.006, 6),
                "failed": 0,
                "skipped": 0,
                "chat_tokens": 0,
                "chat_cost_usd": 0.0,
            }
        ],
        "totals": {
            "transcriptions": 1,
            "audio_seconds": 0.333,
            "billed_seconds": 0.333,
            "cost_usd": round(1 / 3 / 60 * 0.006, 6),
            "failed": 0,
            "skipped": 0,
            "chat_tokens": 0,
            "chat_cost_usd": 0.0,
        },
    }
    assert "unpriced_models" not in answer


def test_no_cells_no_rows_and_zero_totals() -> None:
    report = fold("month", [], PRICES)
    assert report.rows == [] and report.unpriced == []
    assert report.totals == UsageRow(key=None)
    assert report.as_json()["totals"]["transcriptions"] == 0


engines = st.sampled_from(
    [
        ("openai", "whisper-1"),
        ("openai", "gpt-4o-mini-transcribe"),
        ("openai", "mystery"),
        ("local", "base"),
        (None, None),
    ]
)
amounts = st.floats(min_value=0, max_value=1e5, allow_nan=False)
cells = st.lists(
    st.builds(
        lambda key, em, n, audio, billed, failed, skipped: UsageCell(
            key, em[0], em[1], n + failed + skipped, audio, billed, failed, skipped
        ),
        st.one_of(st.none(), st.integers(1, 5), st.sampled_from(["2026-01", "2026-02"])),
        engines,
        st.integers(0, 50),
        amounts,
        amounts,
        st.integers(0, 5),
        st.integers(0, 5),
    ),
    max_size=25,
)


@settings(max_examples=120, deadline=None)
@given(
    cells=cells,
    overrides=st.dictionaries(
        st.sampled_from(["whisper-1", "base"]), st.floats(0, 1, allow_nan=False), max_size=2
    ),
)
def test_totals_are_the_sum_of_the_rows_and_of_the_cells(
    cells: list[UsageCell], overrides: dict[str, float]
) -> None:
    prices = Prices.with_overrides(overrides)
    report = fold("account", cells, prices)
    keys = {c.key for c in cells}
    assert len(report.rows) == len(keys)
    assert {row.key for row in report.rows} == keys
    by_key: dict[object, list[UsageCell]] = defaultdict(list)
    for c in cells:
        by_key[c.key].append(c)
    for row in report.rows:
        mine = by_key[row.key]
        assert row.transcriptions == sum(c.transcriptions for c in mine)
        assert row.failed == sum(c.failed for c in mine)
        assert row.skipped == sum(c.skipped for c in mine)
        assert math.isclose(row.billed_seconds, sum(c.billed_seconds for c in mine), abs_tol=1e-6)
        expected = sum(prices.cost(c.engine, c.model, c.billed_seconds) for c in mine)
        assert math.isclose(row.cost_usd, expected, rel_tol=1e-9, abs_tol=1e-12)
    totals = report.totals
    assert totals.key is None
    assert totals.transcriptions == sum(r.transcriptions for r in report.rows)
    assert totals.failed == sum(r.failed for r in report.rows)
    assert totals.skipped == sum(r.skipped for r in report.rows)
    for name in ("audio_seconds", "billed_seconds", "cost_usd"):
        assert math.isclose(
            getattr(totals, name),
            sum(getattr(r, name) for r in report.rows),
            rel_tol=1e-9,
            abs_tol=1e-9,
        )
    assert math.isclose(
        totals.cost_usd,
        sum(c.billed_seconds / 60 * prices.price(c.engine, c.model) for c in cells),
        rel_tol=1e-9,
        abs_tol=1e-9,
    )
    # only "mystery" on openai is unpriced here, and only once it was billed
    billed_mystery = any(c.model == "mystery" and c.billed_seconds for c in cells)
    assert report.unpriced == (["mystery"] if billed_mystery else [])
