"""Monthly budgets through the pipeline: audio that does not fit is skipped (reason
``budget``) before the engine hears a second of it; a raised budget and a retry deliver it;
crossing 80 % is said once per account and month (a log event, a Sentry message, a row the
console shows), never with a secret."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from adapter import accounts as acc
from adapter.jobs import budget
from adapter.jobs.recovery import retry_many
from adapter.store import State, utcnow
from adapter.usage import month_to_date, report
from adapter.usage.budget import month_of
from tests.helpers import OPENAI_KEY
from tests.jobs.pipeline import Pipeline, transcription_calls
from tests.jobs.test_limits import recording
from tests.observability.test_sentry import Ingest, ingest, sentry_on  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("pipeline")


def voice_notes(pipeline: Pipeline, count: int) -> list[dict[str, Any]]:
    """``count`` distinct Telegram voice notes (en1.ogg) in conversation 321."""
    first = pipeline.voice_note()
    notes = []
    for n in range(count):
        body = copy.deepcopy(first)
        body["id"] = 90820 + n
        for attachment in body["attachments"]:
            attachment["id"] = 55123 + n
            attachment["message_id"] = body["id"]
        notes.append(body)
    return notes


def set_budget(pipeline: Pipeline, usd: float) -> None:
    rt = pipeline.runtime
    acc.update_account(rt.accounts, rt.keyring, 3, acc.parse_changes({"monthly_budget_usd": usd}))


def test_a_spent_budget_skips_before_the_engine_and_a_raised_one_delivers(
    pipeline: Pipeline,
) -> None:
    set_budget(pipeline, 0.0001)  # less than one voice note (~8 s of whisper-1: 0.0008 USD)
    [row] = pipeline.finished(pipeline.send(voice_notes(pipeline, 1)[0]))
    assert (row.state, row.reason) == (State.skipped, "budget")
    assert "monthly budget of 0.0001 USD would be passed" in (row.error or "")
    assert transcription_calls(pipeline.openai) == 0
    set_budget(pipeline, 1.0)
    assert retry_many(pipeline.runtime, account_id=3, state="skipped") == [row.id]
    [done] = pipeline.finished([row.id])
    assert done.state == State.delivered and done.text
    assert transcription_calls(pipeline.openai) == 1


def test_a_long_recording_that_would_cross_the_budget_is_refused_before_spending(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """Ten minutes of speech-like audio cost about 0.05 USD; the budget has 0.01 left: the call
    is skipped from its measured length, while a short voice note still fits after it."""
    call, note = voice_notes(pipeline, 2)
    url = pipeline.chatwoot.add_blob("call.ogg", recording(tmp_path / "call.ogg", 600.0))
    for attachment in call["attachments"]:
        attachment["data_url"] = url
    set_budget(pipeline, 0.01)
    [long] = pipeline.finished(pipeline.send(call))
    assert (long.state, long.reason) == (State.skipped, "budget")
    assert long.chunks_total is None and transcription_calls(pipeline.openai) == 0
    [short] = pipeline.finished(pipeline.send(note))
    assert short.state == State.delivered
    assert transcription_calls(pipeline.openai) == 1


def test_paid_audio_counts_when_its_note_cannot_be_posted(pipeline: Pipeline) -> None:
    """Chatwoot down until delivery gives up: the row ends failed, but the engine was paid,
    so usage shows the cost and the budget counts it (no second paid transcription either)."""
    pipeline.reconfigure(max_attempts=2, delivery_max_attempts=2, retry_max_seconds=0.1)
    rt = pipeline.runtime
    pipeline.chatwoot.fail(503, times=10, path="/api/")
    [row] = pipeline.finished(pipeline.send(voice_notes(pipeline, 1)[0]))
    assert row.state == State.failed and row.text
    assert row.spent_seconds == pytest.approx(row.billed_seconds or 0) and row.spent_seconds > 0
    paid = row.spent_seconds / 60 * 0.006
    assert month_to_date(rt.usage, rt.prices, 3) == pytest.approx(paid)
    [cell] = report(rt.usage, rt.prices, by="account").rows
    assert (cell.billed_seconds, cell.failed) == (pytest.approx(row.spent_seconds), 1)
    assert cell.cost_usd == pytest.approx(paid)


def test_crossing_80_percent_is_said_once_and_the_next_note_waits(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    rt = pipeline.runtime
    first, second, third = voice_notes(pipeline, 3)
    [done] = pipeline.finished(pipeline.send(first))  # no budget yet: what one note costs
    one_note = month_to_date(rt.usage, rt.prices, 3)
    assert one_note == pytest.approx((done.billed_seconds or 0) / 60 * 0.006)
    assert one_note > 0
    set_budget(pipeline, one_note * 1.2)  # one note is 83 % of it
    caplog.set_level(logging.WARNING, logger="adapter.jobs.budget")
    rows = pipeline.finished(pipeline.send(second) + pipeline.send(third))
    assert [(r.state, r.reason) for r in rows] == [(State.skipped, "budget")] * 2
    assert transcription_calls(pipeline.openai) == 1
    [alert] = rt.usage.alerts(month_of(utcnow()))
    assert (alert.account_id, alert.threshold) == (3, 80)
    said = [r for r in caplog.records if getattr(r, "event", None) == "budget.alert"]
    assert len(said) == 1 and "80% used" in said[0].getMessage()


def test_a_budget_warning_goes_to_sentry_once_without_secrets(
    pipeline: Pipeline,
    sentry_on: Ingest,  # noqa: F811 (the fixture)
) -> None:
    rt = pipeline.runtime
    set_budget(pipeline, 10.0)
    account = rt.accounts.get(3)
    assert account is not None
    budget.warn(rt, account, 9.0)  # 90 %: the warning
    budget.warn(rt, account, 9.5)  # still this month: said already
    budget.warn(rt, account, 10.0)  # spent: the second threshold, once
    sentry_on.wait_for(0)
    raw = sentry_on.raw().decode("utf-8", "replace")
    messages = []
    for line in raw.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        text = item.get("message") or (item.get("logentry") or {}).get("message") or ""
        if isinstance(text, str) and text.startswith("account 3: monthly budget"):
            messages.append(text)
    assert sorted(messages) == [
        "account 3: monthly budget 80% used in " + month_of(utcnow()) + " (9.00 of 10.00 USD)",
        "account 3: monthly budget spent in " + month_of(utcnow()) + " (10.00 of 10.00 USD)",
    ]
    assert OPENAI_KEY not in raw and pipeline.chatwoot.api_token not in raw
    assert [a.threshold for a in rt.usage.alerts(month_of(utcnow()))] == [80, 100]
