"""Usage in the store on SQLite and PostgreSQL: cells per key, engine and model over a window,
what a budget has committed, webhook-to-note timings, and budget alerts said once."""

from __future__ import annotations

import statistics
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import count, pairwise
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from adapter.store import State, Transcription, UsageStore, get_engine
from adapter.store.usage import GROUPINGS, Timings, UsageCell, grouping, percentile
from adapter.usage import month_to_date, projection, report
from adapter.usage.prices import Prices

postgres_only = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
_ids = count(1)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def add(engine: sa.Engine, /, **fields: Any) -> int:
    """One transcription row as a test wants it (every state set directly)."""
    n = next(_ids)
    values: dict[str, Any] = {
        "account_id": 3,
        "conversation_id": 1,
        "message_id": n,
        "attachment_id": n,
        "channel": "whatsapp",
        "source_url_enc": "enc",
    }
    values.update(fields)
    if values.get("state") in ("transcribed", "delivered"):  # as the pipeline leaves them
        values.setdefault("text", "a transcript")
        values.setdefault("spent_seconds", values.get("billed_seconds") or 0.0)
    for name in ("received_at", "updated_at"):
        values.setdefault(name, values.get("created_at") or datetime.now(UTC))
    if "created_at" not in values:
        values["created_at"] = values["received_at"]
    with Session(engine) as session:
        row = Transcription(**values)
        session.add(row)
        session.commit()
        assert row.id is not None
        return row.id


@pytest.fixture
def usage(database_url: str) -> UsageStore:
    engine = get_engine(database_url)
    with engine.begin() as conn:  # the shared PostgreSQL database keeps other tests' alerts
        conn.execute(sa.text("DELETE FROM budget_alerts"))
    return UsageStore(engine)


# ─── cells ───────────────────────────────────────────────────────────────────────────────────

ROWS: list[dict[str, Any]] = [
    # the last instant of January and the first of February (UTC)
    dict(created_at=at(2026, 1, 31, 23, 59, 59), inbox_id=7, language="en", state="delivered",
         engine="openai", model="whisper-1", audio_seconds=60.0, billed_seconds=50.0),
    dict(created_at=at(2026, 2, 1), inbox_id=8, channel="telegram", language="es",
         state="transcribed", engine="openai", model="gpt-4o-mini-transcribe",
         audio_seconds=30.0, billed_seconds=30.0),
    dict(account_id=4, created_at=at(2026, 2, 15, 12), inbox_id=9, channel="email",
         state="delivered", engine="local", model="base", audio_seconds=120.0,
         billed_seconds=100.0),
    # failed after the engine was paid for part of it: counted, its seconds not
    dict(created_at=at(2026, 2, 2), inbox_id=7, state="failed", engine="openai",
         model="whisper-1", audio_seconds=40.0, billed_seconds=40.0),
    dict(account_id=4, created_at=at(2026, 2, 3), channel="sms", state="skipped"),
    dict(created_at=at(2026, 2, 3, 8), inbox_id=7, state="transcribing", engine="openai",
         model="whisper-1", audio_seconds=900.0, billed_seconds=800.0, chunks_total=3),
    dict(created_at=at(2026, 2, 4), inbox_id=8, channel="telegram", language="es",
         state="delivered", engine="openai", model="whisper-1", audio_seconds=12.5,
         billed_seconds=10.25),
    dict(created_at=at(2026, 3, 1), inbox_id=8, channel="telegram", state="queued"),
]  # fmt: skip


def key_of(row: dict[str, Any], by: str) -> str | int | None:
    created: datetime = row["created_at"]
    return {
        "day": created.strftime("%Y-%m-%d"),
        "month": created.strftime("%Y-%m"),
        "account": row.get("account_id", 3),
        "inbox": row.get("inbox_id"),
        "channel": row.get("channel", "whatsapp"),
        "language": row.get("language"),
        "model": row.get("model"),
    }[by]


def by_hand(rows: list[dict[str, Any]], by: str) -> list[tuple[Any, ...]]:
    """The cells computed in Python from the rows."""
    sums: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0, 0])
    for row in rows:
        spent = row["state"] in ("transcribed", "delivered")
        cell = sums[key_of(row, by), row.get("engine"), row.get("model")]
        cell[0] += 1
        cell[1] += row.get("audio_seconds", 0.0) if spent else 0.0
        cell[2] += row.get("billed_seconds", 0.0) if spent else 0.0
        cell[3] += row["state"] == "failed"
        cell[4] += row["state"] == "skipped"
    return sorted(((*k, *v) for k, v in sums.items()), key=repr)


def as_tuples(cells: list[UsageCell]) -> list[tuple[Any, ...]]:
    return sorted(
        (
            (
                c.key,
                c.engine,
                c.model,
                c.transcriptions,
                c.audio_seconds,
                c.billed_seconds,
                c.failed,
                c.skipped,
            )
            for c in cells
        ),
        key=repr,
    )


@pytest.fixture
def filled(usage: UsageStore) -> UsageStore:
    for row in ROWS:
        add(usage.engine, **row)
    return usage


@pytest.mark.parametrize("by", GROUPINGS)
def test_cells_are_the_rows_grouped_by_key_engine_and_model(filled: UsageStore, by: str) -> None:
    assert as_tuples(filled.cells(grouping(by))) == by_hand(ROWS, by)


def test_days_and_months_are_utc_and_keys_have_their_types(filled: UsageStore) -> None:
    days = {c.key for c in filled.cells("day")}
    assert {"2026-01-31", "2026-02-01", "2026-03-01"} <= days
    assert {c.key for c in filled.cells("month")} == {"2026-01", "2026-02", "2026-03"}
    assert {c.key for c in filled.cells("account")} == {3, 4}
    assert {c.key for c in filled.cells("inbox")} == {7, 8, 9, None}
    assert {c.key for c in filled.cells("language")} == {"en", "es", None}


@postgres_only
def test_days_are_utc_whatever_the_sessions_time_zone(database_url: str) -> None:
    engine = sa.create_engine(
        database_url, connect_args={"options": "-c timezone=Pacific/Kiritimati"}
    )
    try:
        add(engine, created_at=at(2026, 1, 31, 23, 30), state="delivered")
        add(engine, created_at=at(2026, 2, 1, 0, 30), state="delivered")
        store = UsageStore(engine)
        assert sorted(c.key for c in store.cells("day")) == ["2026-01-31", "2026-02-01"]
        assert sorted(c.key for c in store.cells("month")) == ["2026-01", "2026-02"]
        # the window too: 1 February 00:00 UTC, not Kiritimati's
        feb = store.cells("month", since=at(2026, 2, 1), until=at(2026, 3, 1))
        assert [(c.key, c.transcriptions) for c in feb] == [("2026-02", 1)]
    finally:
        engine.dispose()


def test_a_window_includes_since_and_excludes_until(usage: UsageStore) -> None:
    start, end = at(2026, 2, 1), at(2026, 3, 1)
    add(usage.engine, created_at=start - timedelta(microseconds=1), state="delivered")
    add(usage.engine, created_at=start, state="delivered", audio_seconds=1.0)
    add(
        usage.engine,
        created_at=end - timedelta(microseconds=1),
        state="delivered",
        audio_seconds=2.0,
    )
    add(usage.engine, created_at=end, state="delivered")
    [cell] = usage.cells("account", since=start, until=end)
    assert (cell.transcriptions, cell.audio_seconds) == (2, 3.0)
    assert sum(c.transcriptions for c in usage.cells("account", since=start)) == 3
    assert sum(c.transcriptions for c in usage.cells("account", until=end)) == 3
    assert sum(c.transcriptions for c in usage.cells("account")) == 4


def test_a_window_of_one_account(filled: UsageStore) -> None:
    feb = dict(since=at(2026, 2, 1), until=at(2026, 3, 1))
    three = filled.cells("account", account_id=3, **feb)
    assert {c.key for c in three} == {3}
    assert sum(c.transcriptions for c in three) == 4
    assert sum(c.failed for c in three) == 1
    four = filled.cells("model", account_id=4, **feb)
    assert as_tuples(four) == by_hand([r for r in ROWS if r.get("account_id") == 4], "model")
    assert filled.cells("day", account_id=99) == []


def test_only_transcribed_and_delivered_rows_count_seconds(usage: UsageStore) -> None:
    for state in State:
        add(
            usage.engine,
            state=state.value,
            engine="openai",
            model="whisper-1",
            audio_seconds=60.0,
            billed_seconds=60.0,
        )
    [cell] = usage.cells("model")
    assert cell.transcriptions == len(State)
    assert (cell.audio_seconds, cell.billed_seconds) == (120.0, 120.0)
    assert (cell.failed, cell.skipped) == (1, 1)


# ─── priced: adapter.usage over the store ────────────────────────────────────────────────────


def test_a_report_prices_billed_minutes(filled: UsageStore) -> None:
    feb = dict(since=at(2026, 2, 1), until=at(2026, 3, 1))
    by_model = report(filled, Prices(), by="model", **feb)
    costs = {row.key: row.cost_usd for row in by_model.rows}
    assert costs["gpt-4o-mini-transcribe"] == pytest.approx(30 / 60 * 0.003)
    assert costs["whisper-1"] == pytest.approx(10.25 / 60 * 0.006)  # failed: not billed here
    assert costs["base"] == 0.0  # the local engine: its minutes count, not money
    assert {row.key: row.billed_seconds for row in by_model.rows}["base"] == 100.0
    assert by_model.totals.cost_usd == pytest.approx(sum(costs.values()))
    dearer = report(filled, Prices.with_overrides({"whisper-1": 0.06}), by="model", **feb)
    assert {r.key: r.cost_usd for r in dearer.rows}["whisper-1"] == pytest.approx(10.25 / 60 * 0.06)
    by_language = report(filled, Prices(), by="language", **feb)
    assert {r.key: r.billed_seconds for r in by_language.rows} == {"es": 40.25, None: 100.0}


def test_an_unpriced_paid_model_is_listed(usage: UsageStore) -> None:
    add(usage.engine, state="delivered", engine="openai", model="whisper-9", billed_seconds=60.0)
    assert report(usage, Prices(), by="account").unpriced == ["whisper-9"]


def test_committed_counts_spent_and_planned_seconds_of_the_month(usage: UsageStore) -> None:
    month = at(2026, 2, 1)
    e = usage.engine
    # last month
    add(
        e,
        created_at=at(2026, 1, 31, 23),
        state="delivered",
        engine="openai",
        model="whisper-1",
        billed_seconds=1000.0,
    )
    add(
        e,
        created_at=at(2026, 2, 2),
        state="delivered",
        engine="openai",
        model="whisper-1",
        billed_seconds=60.0,
    )
    add(
        e,
        created_at=at(2026, 2, 2),
        state="transcribed",
        engine="openai",
        model="whisper-1",
        billed_seconds=30.0,
    )
    planned = add(
        e,
        created_at=at(2026, 2, 3),
        state="transcribing",
        engine="openai",
        model="whisper-1",
        billed_seconds=600.0,
        chunks_total=2,
    )
    # not planned yet: nothing promised
    add(
        e,
        created_at=at(2026, 2, 3),
        state="transcribing",
        engine="openai",
        model="whisper-1",
        billed_seconds=None,
    )
    add(
        e,
        created_at=at(2026, 2, 3),
        state="failed",
        engine="openai",
        model="whisper-1",
        billed_seconds=300.0,
    )
    add(e, created_at=at(2026, 2, 3), state="queued")
    add(
        e,
        created_at=at(2026, 2, 3),
        state="delivered",
        engine="local",
        model="base",
        billed_seconds=120.0,
    )
    add(
        e,
        account_id=4,
        created_at=at(2026, 2, 3),
        state="delivered",
        engine="openai",
        model="whisper-1",
        billed_seconds=5000.0,
    )
    assert sorted(usage.committed(3, month)) == [
        ("local", "base", 120.0),
        ("openai", "whisper-1", 690.0),
    ]
    assert sorted(usage.committed(3, month, besides=planned)) == [
        ("local", "base", 120.0),
        ("openai", "whisper-1", 90.0),
    ]
    assert usage.committed(5, month) == []
    now = at(2026, 2, 20)
    assert month_to_date(usage, Prices(), 3, now) == pytest.approx(690 / 60 * 0.006)
    assert month_to_date(usage, Prices(), 3, now, besides=planned) == pytest.approx(90 / 60 * 0.006)


def test_a_projection_from_the_store(usage: UsageStore) -> None:
    now = at(2026, 6, 16)  # 15 days of June left
    e = usage.engine
    for day in (2, 10, 12, 14):  # 10 min of whisper-1 each: 0.06 USD
        add(
            e,
            created_at=at(2026, 6, day),
            state="delivered",
            engine="openai",
            model="whisper-1",
            billed_seconds=600.0,
        )
    add(
        e,
        created_at=at(2026, 5, 31),
        state="delivered",
        engine="openai",
        model="whisper-1",
        billed_seconds=600.0,
    )
    p = projection(usage, Prices(), account_id=3, budget_usd=1.0, now=now)
    assert p.month == "2026-06"
    assert p.spent_usd == pytest.approx(0.24)
    assert p.daily_usd == pytest.approx(0.18 / 7)  # 10, 12 and 14 June are in the last week
    assert p.projected_usd == pytest.approx(0.24 + 0.18 / 7 * 15)
    assert projection(usage, Prices(), account_id=4, now=now).projected_usd == 0.0


# ─── timings ─────────────────────────────────────────────────────────────────────────────────


def test_timings_count_what_ended_and_time_webhooks_to_notes(usage: UsageStore) -> None:
    since = at(2026, 2, 1, 12)
    e = usage.engine
    seconds = [8.0, 2.0, 100.0, 6.0, 4.0]  # webhook to note
    for i, s in enumerate(seconds):
        received = since + timedelta(minutes=i)
        done = received + timedelta(seconds=s)
        add(e, state="delivered", received_at=received, delivered_at=done, updated_at=done)
    late = since + timedelta(minutes=30)
    # found by the reconciler: counted, not timed (nobody waited for a webhook)
    add(
        e,
        state="delivered",
        source="reconcile",
        received_at=late,
        delivered_at=late + timedelta(seconds=1000),
        updated_at=late + timedelta(seconds=1000),
    )
    # delivered before the window, though changed since: neither counted nor timed
    old = since - timedelta(hours=1)
    add(
        e,
        state="delivered",
        received_at=old,
        delivered_at=old + timedelta(seconds=500),
        updated_at=since + timedelta(minutes=5),
    )
    add(e, state="failed", received_at=old, updated_at=since + timedelta(minutes=1))
    add(e, state="failed", received_at=since, updated_at=since)
    add(e, state="failed", received_at=old, updated_at=old)  # before the window
    add(e, state="transcribing", received_at=since, updated_at=since)
    got = usage.timings(since)
    assert (got.delivered, got.failed) == (6, 2)
    ordered = sorted(seconds)  # 2 4 6 8 100
    assert got.p50_seconds == pytest.approx(6.0, abs=0.01)
    # 95th: position 0.95 * 4 = 3.8, between 8 and 100
    assert got.p95_seconds == pytest.approx(8 + 0.8 * (100 - 8), abs=0.01)
    assert got.p50_seconds == pytest.approx(statistics.median(ordered), abs=0.01)
    assert got.p95_seconds == pytest.approx(
        statistics.quantiles(ordered, n=20, method="inclusive")[-1], abs=0.01
    )
    assert got.success_rate == pytest.approx(6 / 8)


def test_timings_of_a_quiet_window(usage: UsageStore) -> None:
    since = at(2026, 2, 1)
    assert usage.timings(since) == Timings(0, 0, None, None)
    assert usage.timings(since).success_rate is None
    add(usage.engine, state="failed", updated_at=since)
    got = usage.timings(since)
    assert (got.delivered, got.failed, got.p50_seconds, got.success_rate) == (0, 1, None, 0.0)


def test_timings_of_one_delivery(usage: UsageStore) -> None:
    since = at(2026, 2, 1)
    add(
        usage.engine,
        state="delivered",
        received_at=since,
        delivered_at=since + timedelta(seconds=1.5),
        updated_at=since + timedelta(seconds=2),
    )
    got = usage.timings(since)
    assert got.p50_seconds == pytest.approx(1.5, abs=0.01)
    assert got.p95_seconds == pytest.approx(1.5, abs=0.01)
    assert got.success_rate == 1.0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=30))
def test_percentile_interpolates_as_percentile_cont(values: list[float]) -> None:
    ordered = sorted(values)
    assert percentile(ordered, 0.0) == ordered[0]
    assert percentile(ordered, 1.0) == ordered[-1]
    assert percentile(ordered, 0.5) == pytest.approx(statistics.median(ordered))
    fractions = [0.0, 0.1, 0.5, 0.9, 0.95, 1.0]
    found = [percentile(ordered, f) for f in fractions]
    assert all(a <= b + 1e-9 for a, b in pairwise(found))
    if len(ordered) > 1:
        inclusive = statistics.quantiles(ordered, n=20, method="inclusive")
        assert percentile(ordered, 0.95) == pytest.approx(inclusive[-1], abs=1e-6)
    assert percentile([], 0.5) is None


# ─── budget alerts ───────────────────────────────────────────────────────────────────────────


def test_an_alert_is_recorded_once_per_account_month_and_threshold(usage: UsageStore) -> None:
    assert usage.record_alert(3, "2026-02", 80, spent_usd=8.1234567891, budget_usd=10.0)
    assert not usage.record_alert(3, "2026-02", 80, spent_usd=9.0, budget_usd=10.0)
    assert usage.record_alert(3, "2026-02", 100, spent_usd=10.0, budget_usd=10.0)
    assert usage.record_alert(3, "2026-03", 80, spent_usd=8.0, budget_usd=10.0)
    assert usage.record_alert(2, "2026-02", 80, spent_usd=80.0, budget_usd=100.0)
    assert not usage.record_alert(3, "2026-02", 100, spent_usd=11.0, budget_usd=10.0)
    alerts = usage.alerts("2026-02")
    assert [(a.account_id, a.threshold) for a in alerts] == [(2, 80), (3, 80), (3, 100)]
    first = alerts[1]
    assert (first.month, first.spent_usd, first.budget_usd) == ("2026-02", 8.123457, 10.0)
    assert first.created_at.tzinfo is not None
    assert [(a.account_id, a.month) for a in usage.alerts("2026-03")] == [(3, "2026-03")]
    assert usage.alerts("2025-12") == []


def test_racing_threads_record_an_alert_once(usage: UsageStore) -> None:
    threads = 8
    barrier = threading.Barrier(threads)
    results: list[bool] = []
    errors: list[BaseException] = []

    def race() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(usage.record_alert(7, "2026-02", 80, spent_usd=8, budget_usd=10))
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=race) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert errors == []
    assert sorted(results) == [False] * (threads - 1) + [True]
    assert len(usage.alerts("2026-02")) == 1


def test_grouping_names_the_choices() -> None:
    assert [grouping(name) for name in GROUPINGS] == list(GROUPINGS)
    with pytest.raises(ValueError, match="day, month, account, inbox, channel, language, model"):
        grouping("week")
