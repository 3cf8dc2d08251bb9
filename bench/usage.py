"""Usage reports and search over 1,000,000 transcriptions on PostgreSQL.

    python bench/usage.py [--rows 1000000] [--accounts 20] [--repeat 15] [--refill]

The database is ``bench_usage`` (``--database``) on the server of
``TRANSCRIBER_BENCH_DATABASE_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``,
which is only used to create it), migrated with ``adapter.store.migrate``: the tests' databases
are never touched. The fill is kept between runs: it is skipped when the table already holds
``--rows`` rows, and ``--refill`` empties the table and fills it again.

The fill is one ``INSERT … SELECT … FROM generate_series`` in slices, then ``ANALYZE``: ``--rows``
transcriptions over ``--accounts`` accounts, received evenly over 13 months (November 2025 to
November 2026, in id order as in production), 90 % delivered, the rest failed, skipped,
transcribed or queued; 80 % ``whisper-1``, 10 % ``gpt-4o-mini-transcribe``, 10 % the local
engine; six channels, three inboxes per account, five languages and unknown; a transcript of
twelve words from a vocabulary of 181, and the rare word ``refund`` in one in a thousand.

Then it times, ``--repeat`` times each after one warm-up, through the product's own functions:

- ``adapter.usage.report`` for one account and one month, by day and by model (the goal:
  under 200 ms);
- the same for all accounts in one month, by account;
- ``adapter.usage.month_to_date`` (what the budget gate reads before every engine call);
- ``UsageStore.timings`` over the last week (the console's overview);
- ``Ledger.recent(q=…)``: a rare word, a common word, two words with an account filter;

and prints median and p95 milliseconds, and ``EXPLAIN (ANALYZE, BUFFERS)`` of the statement
``report`` sent for one account and month (captured as it ran), with the indexes it used.
Nothing asserts on time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapter.store import Ledger, UsageStore, migrate
from adapter.store.usage import percentile
from adapter.usage import month_to_date, report
from adapter.usage.prices import Prices

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
START = datetime(2025, 11, 1, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)  # 13 months
#: the month measured, and "now" for month_to_date and timings
MONTH = (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
ACCOUNT = 7
GOAL_MS = 200.0
SLICE = 100_000

VOCABULARY = (
    "hello thanks order parcel invoice delivery address payment card account password login "
    "email phone number today tomorrow yesterday morning evening week month price discount "
    "coupon shipping tracking package box damaged broken missing late early store shop app "
    "website link code error problem issue question answer help support agent manager call "
    "message voice note please sorry great good bad okay yes no maybe again still already "
    "cancel change update confirm receive send return exchange size color model version "
    "battery screen charger cable light water coffee table chair door window kitchen car "
    "street city country bank transfer cash receipt bill tax fee plan upgrade subscription "
    "trial free premium basic monday tuesday wednesday thursday friday saturday sunday hour "
    "minute second first last next previous new old big small fast slow warm cold open closed "
    "ready waiting done started finished stuck working broken fixed install restart reset "
    "settings profile photo file upload download printer scanner network wifi router signal "
    "customer client team office home school work travel flight hotel ticket booking seat "
    "menu lunch dinner breakfast pizza bread milk sugar salt fruit apple banana orange grape"
)
WORDS = tuple(dict.fromkeys(VOCABULARY.split()))


def bench_url(base: str, database: str) -> str:
    return make_url(base).set(database=database).render_as_string(hide_password=False)


def ensure_database(base: str, database: str) -> str:
    """``database`` on ``base``'s server, created if missing, migrated."""
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database}
            ).first()
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
    finally:
        admin.dispose()
    url = bench_url(base, database)
    migrate(url)
    return url


FILL = """
INSERT INTO transcriptions (
    account_id, conversation_id, message_id, attachment_id, channel, inbox_id, source, state,
    attempts, delivery_attempts, source_url_enc, language, duration_seconds, audio_seconds,
    billed_seconds, chunks_total, chunks_done, seconds_done, engine, model, text,
    attribute_set, failure_note_attempts, received_at, delivered_at, created_at, updated_at)
SELECT
    1 + g % :accounts, g / 4, g, g,
    (ARRAY['whatsapp','telegram','email','web_widget','sms','api'])[1 + g % 6],
    (1 + g % :accounts) * 10 + g % 3,
    CASE WHEN g % 20 = 0 THEN 'reconcile' ELSE 'webhook' END,
    s.state, 1, 1, 'enc',
    (ARRAY['en','es','pt','fr','de',NULL])[1 + g % 6],
    s.audio, s.audio, s.audio * 0.9, 1, 1, s.audio,
    s.engine, s.model,
    (SELECT string_agg((CAST(:words AS text[]))[1 + s.h * k % 4294967291 % :nwords], ' ')
       FROM generate_series(1, 12) AS k)
      || CASE WHEN g % 1000 = 0 THEN ' refund' ELSE '' END,
    false, 0, s.at,
    CASE WHEN s.state = 'delivered' THEN s.at + (3 + g % 17) * interval '1 second' END,
    s.at, s.at + interval '30 seconds'
FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g
CROSS JOIN LATERAL (SELECT
    CAST(:start AS timestamptz) + (g - 1) * (CAST(:span AS interval) / :rows) AS at,
    5.0 + (g * 7919) % 300 AS audio,
    g * 2654435761 % 4294967291 AS h,
    CASE WHEN g % 100 < 90 THEN 'delivered' WHEN g % 100 < 94 THEN 'failed'
         WHEN g % 100 < 97 THEN 'skipped' WHEN g % 100 < 99 THEN 'transcribed'
         ELSE 'queued' END AS state,
    CASE WHEN g % 10 = 9 THEN 'local' ELSE 'openai' END AS engine,
    CASE WHEN g % 10 = 9 THEN 'base' WHEN g % 10 = 8 THEN 'gpt-4o-mini-transcribe'
         ELSE 'whisper-1' END AS model
) AS s
"""


def fill(engine: Engine, rows: int, accounts: int, refill: bool) -> None:
    with engine.connect() as conn:
        have = conn.execute(sa.text("SELECT count(*) FROM transcriptions")).scalar_one()
    if have == rows and not refill:
        print(f"fill: {have:,} transcriptions already there (--refill to redo)")
        return
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE transcriptions, transcript_chunks RESTART IDENTITY"))
    for first in range(1, rows + 1, SLICE):
        last = min(rows, first + SLICE - 1)
        with engine.begin() as conn:
            conn.execute(
                sa.text(FILL),
                {
                    "accounts": accounts,
                    "words": list(WORDS),
                    "nwords": len(WORDS),
                    "first": first,
                    "last": last,
                    "start": START,
                    "span": END - START,
                    "rows": rows,
                },
            )
        print(f"  {last:,} rows, {time.perf_counter() - started:.0f} s", flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE transcriptions"))
    print(f"fill: {rows:,} transcriptions in {time.perf_counter() - started:.0f} s")


def sizes(engine: Engine) -> None:
    with engine.connect() as conn:
        table, total = conn.execute(
            sa.text(
                "SELECT pg_size_pretty(pg_table_size('transcriptions')), "
                "pg_size_pretty(pg_total_relation_size('transcriptions'))"
            )
        ).one()
        indexes = conn.execute(
            sa.text(
                "SELECT indexrelid::regclass::text, pg_size_pretty(pg_relation_size(indexrelid)) "
                "FROM pg_index WHERE indrelid = 'transcriptions'::regclass ORDER BY 1"
            )
        ).all()
    print(f"table {table}, with indexes {total}: " + ", ".join(f"{n} {s}" for n, s in indexes))


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    result = fn()  # warm-up
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - started) * 1000)
    ordered = sorted(samples)
    return statistics.median(ordered), percentile(ordered, 0.95) or 0.0, result


def captured(engine: Engine, fn: Callable[[], Any]) -> tuple[str, Any]:
    """The last statement ``fn`` sent, and its parameters."""
    seen: list[tuple[str, Any]] = []

    def listen(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        fn()
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)
    return seen[-1]


def explain(engine: Engine, fn: Callable[[], Any]) -> list[str]:
    statement, params = captured(engine, fn)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).all()
    return [row[0] for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--database", default="bench_usage")
    parser.add_argument("--refill", action="store_true")
    args = parser.parse_args()

    base = os.environ.get("TRANSCRIBER_BENCH_DATABASE_URL", DEFAULT_URL)
    url = ensure_database(base, args.database)
    engine = sa.create_engine(url, pool_size=2)
    try:
        fill(engine, args.rows, args.accounts, args.refill)
        sizes(engine)
        run(engine, args)
    finally:
        engine.dispose()


def run(engine: Engine, args: argparse.Namespace) -> None:
    store, prices = UsageStore(engine), Prices()
    ledger = Ledger(engine, lease_seconds=30.0)
    since, until = MONTH
    month = since.strftime("%Y-%m")

    def one(by: str) -> Callable[[], Any]:
        return lambda: report(store, prices, by=by, account_id=ACCOUNT, since=since, until=until)  # type: ignore[arg-type]

    cases: list[tuple[str, Callable[[], Any], Callable[[Any], str]]] = [
        (f"report account {ACCOUNT}, {month}, by day", one("day"),
         lambda r: f"{len(r.rows)} rows, {r.totals.transcriptions:,} transcriptions, "
         f"{r.totals.cost_usd:.2f} USD"),
        (f"report account {ACCOUNT}, {month}, by model", one("model"),
         lambda r: f"{len(r.rows)} rows, {r.totals.billed_seconds / 60:,.0f} billed min"),
        (f"report all accounts, {month}, by account",
         lambda: report(store, prices, by="account", since=since, until=until),
         lambda r: f"{len(r.rows)} rows, {r.totals.transcriptions:,} transcriptions"),
        (f"month_to_date account {ACCOUNT}",
         lambda: month_to_date(store, prices, ACCOUNT, NOW),
         lambda usd: f"{usd:.2f} USD"),
        ("timings, last 7 days",
         lambda: store.timings(NOW - timedelta(days=7)),
         lambda t: f"{t.delivered:,} delivered, p50 {t.p50_seconds:.1f} s"),
        ("recent(q='refund'), 50 newest",
         lambda: ledger.recent(q="refund"),
         lambda rows: f"{len(rows)} found"),
        ("recent(q='parcel'), 50 newest",
         lambda: ledger.recent(q="parcel"),
         lambda rows: f"{len(rows)} found"),
        (f"recent(q='damaged parcel', account {ACCOUNT})",
         lambda: ledger.recent(q="damaged parcel", account_id=ACCOUNT),
         lambda rows: f"{len(rows)} found"),
        ("recent(q='refund', language 'en')",
         lambda: ledger.recent(q="refund", language="en"),
         lambda rows: f"{len(rows)} found"),
    ]  # fmt: skip

    print(f"\n{'query':<46} {'median ms':>10} {'p95 ms':>9}  result")
    figures: dict[str, float] = {}
    for name, fn, describe in cases:
        median, p95, result = timed(fn, args.repeat)
        figures[name] = median
        print(f"{name:<46} {median:>10.1f} {p95:>9.1f}  {describe(result)}")

    by_day = figures[cases[0][0]]
    verdict = "met" if by_day < GOAL_MS else "NOT met"
    print(
        f"\ngoal: usage of one account for one month under {GOAL_MS:.0f} ms: "
        f"{by_day:.1f} ms median by day ({verdict}); "
        f"all accounts / one account = {figures[cases[2][0]] / by_day:.1f}x"
    )

    plan = explain(engine, one("day"))
    used = sorted({word for line in plan for word in line.replace("(", " ").split()
                   if word.startswith("ix_") or word.endswith("_pkey")})  # fmt: skip
    print(f"\nEXPLAIN (ANALYZE, BUFFERS) of report(by='day', account {ACCOUNT}, {month}):")
    for line in plan:
        print("  " + line)
    print(f"indexes used: {', '.join(used) or 'none (sequential scan)'}")


if __name__ == "__main__":
    main()
