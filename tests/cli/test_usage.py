"""``transcriber usage`` (a table on a terminal, JSON with ``--json``, ``--project``) and
``--monthly-budget-usd``: the figures, the windows, the budget in ``accounts list``, and clear
errors for bad input."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from adapter.cli.parser import USAGE_GROUPINGS
from adapter.store import utcnow
from adapter.usage import GROUPINGS
from tests.cli.helpers import Call, add_transcription, adding, assert_no_secret

DELIVERED = {
    "state": "delivered",
    "engine": "openai",
    "model": "whisper-1",
    "audio_seconds": 125.0,
    "billed_seconds": 120.0,
    "spent_seconds": 120.0,
    "text": "a transcript",
    "language": "en",
}


def test_the_groupings_of_the_command_are_the_stores() -> None:
    assert USAGE_GROUPINGS == GROUPINGS


@pytest.mark.both_databases
def test_usage_table_json_and_windows(call: Call, database_url: str) -> None:
    add_transcription(database_url, **DELIVERED)
    add_transcription(
        database_url,
        **{**DELIVERED, "attachment_id": 4, "language": "es", "model": "gpt-4o-mini-transcribe"},
    )
    add_transcription(database_url, attachment_id=5, state="failed")
    add_transcription(
        database_url, **{**DELIVERED, "attachment_id": 6}, created_at=utcnow() - timedelta(days=40)
    )

    answer = json.loads(call(["usage", "--by", "language", "--since", "30d", "--json"]).stdout)
    assert [(r["key"], r["transcriptions"], r["billed_seconds"]) for r in answer["rows"]] == [
        ("en", 1, 120.0),
        ("es", 1, 120.0),
        (None, 1, 0.0),  # the failed one: no language, counted, no seconds
    ]
    assert answer["totals"] == {
        "transcriptions": 3,
        "audio_seconds": 250.0,
        "billed_seconds": 240.0,
        "cost_usd": pytest.approx(2 * 0.006 + 2 * 0.003),
        "failed": 1,
        "skipped": 0,
        "chat_tokens": 0,
        "chat_cost_usd": 0.0,
    }
    everything = json.loads(call(["usage", "--by", "account", "--json"]).stdout)
    assert everything["totals"]["transcriptions"] == 4
    older = json.loads(call(["usage", "--until", "30d", "--json"]).stdout)
    assert older["totals"]["transcriptions"] == 1

    table = call(["usage", "--by", "model", "--since", "30d"])
    assert table.returncode == 0, table.stderr
    assert "gpt-4o-mini-transcribe" in table.stdout and "whisper-1" in table.stdout
    assert "0.0180" in table.stdout  # the total cost, to the hundredth of a cent


def test_an_unpriced_model_is_named(call: Call, database_url: str) -> None:
    add_transcription(database_url, **{**DELIVERED, "model": "Systran/faster-whisper-small"})
    answer = json.loads(call(["usage", "--json"]).stdout)
    assert answer["unpriced_models"] == ["Systran/faster-whisper-small"]
    assert answer["totals"]["cost_usd"] == 0
    table = call(["usage"]).stdout
    assert "TRANSCRIBER_PRICES" in table and "Systran/faster-whisper-small" in table


def test_projection_against_the_budget(call: Call, database_url: str) -> None:
    assert call(adding(7, "--monthly-budget-usd", "2.5")).returncode == 0
    # billed 600 s: 0.06 USD
    add_transcription(
        database_url, **{**DELIVERED, "billed_seconds": 600.0, "spent_seconds": 600.0}
    )
    answer = json.loads(call(["usage", "--project", "--json"]).stdout)
    [seven] = answer["accounts"]
    assert seven["account_id"] == 7 and seven["monthly_budget_usd"] == 2.5
    assert seven["spent_usd"] == pytest.approx(0.06)
    # 0.06 in the last 7 days: 0.06 / 7 a day for the days left
    assert seven["projected_usd"] == pytest.approx(0.06 + 0.06 / 7 * seven["days_left"], rel=1e-3)
    assert answer["totals"]["projected_usd"] == pytest.approx(seven["projected_usd"])
    table = call(["usage", "--project"]).stdout
    assert "PROJECTED" in table and "2.5000" in table


def test_the_budget_in_accounts_list(call: Call, database_url: str) -> None:
    assert call(adding(7, "--monthly-budget-usd", "0.1")).returncode == 0
    assert call(adding(8)).returncode == 0
    # billed 900 s: 0.09 USD
    add_transcription(
        database_url, **{**DELIVERED, "billed_seconds": 900.0, "spent_seconds": 900.0}
    )
    seven, eight = json.loads(call(["accounts", "list", "--json"]).stdout)
    assert seven["budget"]["level"] == "warning" and seven["budget"]["percent"] == 90.0
    assert eight["budget"] == {**eight["budget"], "monthly_budget_usd": None, "level": "none"}
    listed = call(["accounts", "list"])
    assert "0.09 / 0.10 (90%)" in listed.stdout and "0.00 (no budget)" in listed.stdout
    assert_no_secret(listed.stdout, listed.stderr)
    assert call(["accounts", "update", "7", "--monthly-budget-usd", "0"]).returncode == 0
    assert json.loads(call(["accounts", "list", "--json"]).stdout)[0]["budget"]["level"] == "none"


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["usage", "--by", "week"], 2, "invalid choice"),
        (["usage", "--since", "last tuesday"], 1, "neither an ISO 8601 date"),
        (["usage", "--since", "1d", "--until", "2d"], 1, "must be before --until"),
        (["usage", "--account-id", "0"], 2, "account-id"),
        (adding(7, "--monthly-budget-usd", "-1"), 2, "not an amount of USD"),
        (adding(7, "--monthly-budget-usd", "nan"), 2, "not an amount of USD"),
        (adding(7, "--monthly-budget-usd", "ten"), 2, "not an amount of USD"),
    ],
)
def test_bad_input_is_one_clear_line(call: Call, args: list[str], code: int, says: str) -> None:
    result = call(args)
    assert result.returncode == code
    assert says in result.stderr
    assert "Traceback" not in result.stderr


def test_status_warns_of_a_spent_budget(call: Call, database_url: str) -> None:
    assert call(adding(7, "--monthly-budget-usd", "0.05")).returncode == 0
    assert call(adding(8, "--monthly-budget-usd", "1")).returncode == 0
    # billed 600 s: 0.06 USD
    add_transcription(
        database_url, **{**DELIVERED, "billed_seconds": 600.0, "spent_seconds": 600.0}
    )
    status = call(["status", "--json"])
    assert status.returncode == 0, status.stderr
    [warning] = [w for w in json.loads(status.stdout)["warnings"] if "budget" in w]
    assert warning.startswith("account 7 has spent its monthly budget (0.06 of 0.05 USD)")
    assert "--monthly-budget-usd" in warning and "retry --state skipped" in warning
