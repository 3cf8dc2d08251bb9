"""Full-text search through ``Ledger.recent(q=…)`` on SQLite (FTS5) and PostgreSQL (tsvector):
every word required, case (and on SQLite diacritics) folded, any text a valid query, stemming
where the language is known, the index following a changed transcript, and the other filters
combined with it."""

from __future__ import annotations

import importlib.util
import re
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from adapter.store import Ledger, Transcription, get_engine, migrations
from adapter.store.search import (
    MAX_TERM_LENGTH,
    MAX_TERMS,
    PG_CONFIGS,
    fts5_query,
    search_terms,
)

postgres_only = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
_ids = count(1)
T0 = datetime(2026, 2, 1, tzinfo=UTC)


def add(ledger: Ledger, text: str | None, **fields: Any) -> int:
    n = next(_ids)
    values: dict[str, Any] = {
        "account_id": 3,
        "conversation_id": 1,
        "message_id": n,
        "attachment_id": n,
        "channel": "whatsapp",
        "source_url_enc": "enc",
        "state": "delivered",
        "text": text,
    }
    values.update(fields)
    with Session(ledger.engine) as session:
        row = Transcription(**values)
        session.add(row)
        session.commit()
        assert row.id is not None
        return row.id


def found(ledger: Ledger, q: str, **filters: Any) -> list[int]:
    return [row.id for row in ledger.recent(q=q, **filters) if row.id is not None]


@pytest.fixture
def ledger(database_url: str) -> Ledger:
    return Ledger(get_engine(database_url), lease_seconds=30.0)


@pytest.fixture
def three(ledger: Ledger) -> tuple[int, int, int]:
    return (
        add(ledger, "The parcel arrived damaged, please send a new one."),
        add(ledger, "My invoice is wrong: I was charged twice."),
        add(ledger, "Parcel lost in transit since Monday."),
    )


# ─── the words of a query (pure) ─────────────────────────────────────────────────────────────


def test_terms_are_lower_cased_words_in_order_each_once() -> None:
    assert search_terms("Parcel DAMAGED parcel, damaged!") == ["parcel", "damaged"]
    assert search_terms('"NEAR(a b)" AND -c* OR NOT d') == ["near", "a", "b", "and", "c", "or",
                                                              "not", "d"]  # fmt: skip
    assert search_terms("  ...!!! 📦 ") == []
    assert search_terms("Ça coûte 12.50 €") == ["ça", "coûte", "12", "50"]
    assert search_terms(" ".join(f"w{i}" for i in range(40))) == [f"w{i}" for i in range(16)]
    assert search_terms("x" * 500) == ["x" * MAX_TERM_LENGTH]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_a_few_plain_words(text: str) -> None:
    terms = search_terms(text)
    assert len(terms) <= MAX_TERMS
    assert len(set(terms)) == len(terms)
    for term in terms:
        assert re.fullmatch(r"\w+", term)
        assert 0 < len(term) <= MAX_TERM_LENGTH
        assert '"' not in term and term == term.lower()


# ─── finding ─────────────────────────────────────────────────────────────────────────────────


def test_a_word_finds_its_transcripts_and_not_the_others(
    ledger: Ledger, three: tuple[int, int, int]
) -> None:
    damaged, invoice, lost = three
    assert found(ledger, "invoice") == [invoice]
    assert found(ledger, "parcel") == [lost, damaged]  # the newest first
    assert found(ledger, "transit") == [lost]
    assert found(ledger, "absent") == []
    assert len(found(ledger, "")) == 3  # no query: no filter
    assert len(found(ledger, "   ")) == 3


def test_every_word_is_required(ledger: Ledger, three: tuple[int, int, int]) -> None:
    damaged, _, lost = three
    assert found(ledger, "parcel damaged") == [damaged]
    assert found(ledger, "damaged parcel") == [damaged]  # in any order
    assert found(ledger, "lost parcel Monday") == [lost]
    assert found(ledger, "parcel invoice") == []
    assert found(ledger, "parcel absent") == []


def test_case_is_folded(ledger: Ledger, three: tuple[int, int, int]) -> None:
    damaged, invoice, lost = three
    assert found(ledger, "PARCEL") == [lost, damaged]
    assert found(ledger, "InVoIcE") == [invoice]


def test_a_transcript_without_text_is_never_found(ledger: Ledger) -> None:
    add(ledger, None, state="queued")
    add(ledger, "", state="delivered")
    assert found(ledger, "anything") == []


def test_accents_are_folded_on_sqlite_and_kept_as_written_on_both(
    ledger: Ledger, database_url: str
) -> None:
    cafe = add(ledger, "Le café crème était froid à Zürich")
    assert found(ledger, "café") == [cafe]
    assert found(ledger, "CAFÉ CRÈME") == [cafe]
    assert found(ledger, "zürich") == [cafe]
    if database_url.startswith("sqlite"):
        assert found(ledger, "cafe creme") == [cafe]
        assert found(ledger, "zurich etait") == [cafe]


def test_other_scripts(ledger: Ledger) -> None:
    ru = add(ledger, "Посылка пришла повреждённой", language="ru")
    el = add(ledger, "Το δέμα χάθηκε", language="el")  # noqa: RUF001
    assert found(ledger, "посылка") == [ru]
    assert found(ledger, "ΔΈΜΑ") == [el]


HOSTILE = [
    '"parcel"',
    "parcel AND invoice",
    "parcel OR invoice",
    "NOT parcel",
    "parc*",
    "*",
    "-parcel",
    "parcel -damaged",
    '"',
    '""',
    '"parcel',
    "NEAR(parcel damaged)",
    "NEAR(",
    "text:parcel",
    "^parcel",
    "parcel + damaged",
    "{parcel damaged}",
    "\\",
    "\\parcel\\",
    "parcel\\'",
    "'; DROP TABLE transcriptions; --",
    "1' OR '1'='1",
    "parcel & damaged | !invoice",
    "parcel:* <-> damaged",
    "!!! ??? ... ;;; ()",
    "📦🔥",
    "📦parcel",
    "\x00parcel",
    "parcel ___",
    "___",
    "a_b",
    "%",
    "parcel%",
    "x" * 10_000,
    "parcel " * 1_500,
    " ".join(f"w{i}" for i in range(2_000)),
]


@pytest.mark.parametrize("q", HOSTILE, ids=range(len(HOSTILE)))
def test_any_text_is_a_query_and_never_an_error(
    ledger: Ledger, three: tuple[int, int, int], q: str
) -> None:
    damaged, _, lost = three
    got = found(ledger, q)
    assert set(got) <= set(three)
    # a query is its words, nothing else: what it finds is what its words find
    words = search_terms(q)
    if words:
        assert got == found(ledger, " ".join(words))
    else:
        assert got == []
    if words == ["parcel"]:
        assert got == [lost, damaged]
    with ledger.engine.connect() as conn:  # and the table is still there
        assert conn.execute(sa.text("SELECT count(*) FROM transcriptions")).scalar() == 3


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(q=st.text(max_size=120))
def test_random_text_never_raises(database_url: str, q: str) -> None:
    ledger = Ledger(get_engine(database_url), lease_seconds=30.0)
    assert isinstance(ledger.recent(q=q, limit=5), list)


def test_hostile_text_in_a_transcript_is_only_text(ledger: Ledger) -> None:
    weird = add(ledger, 'He said "NEAR(a b)" AND *, then -- OR 1=1; \\ 📦 done')
    assert found(ledger, "near") == [weird]
    assert found(ledger, "said done") == [weird]
    assert found(ledger, "or") == [weird]


@sqlite_only
def test_decimals_and_addresses_are_found_on_sqlite(ledger: Ledger) -> None:
    row = add(ledger, "The invoice says 12.50 dollars; write to jane@example.com today.")
    assert found(ledger, "12.50") == [row]
    assert found(ledger, "jane@example.com") == [row]
    assert found(ledger, "example") == [row]


@postgres_only
@pytest.mark.parametrize("q", ["12.50", "jane@example.com"])
def test_decimals_and_addresses_are_found_on_postgres(ledger: Ledger, q: str) -> None:
    row = add(ledger, "The invoice says 12.50 dollars; write to jane@example.com today.")
    assert found(ledger, q) == [row]


# ─── languages (PostgreSQL stems the words of a known language) ─────────────────────────────


@postgres_only
def test_a_language_filter_matches_stemmed_forms_on_postgres(ledger: Ledger) -> None:
    en = add(ledger, "I connected the router and it kept running", language="en")
    es = add(ledger, "Las cajas llegaron rotas", language="es")
    other = add(ledger, "connected and running", language=None)
    # english: connecting → connect, runs → run; spanish: caja → caj
    assert found(ledger, "connecting runs", language="en") == [en]
    assert found(ledger, "caja", language="es") == [es]
    # without a language only the words as written match
    assert found(ledger, "connecting runs") == []
    assert found(ledger, "connected running") == [other, en]
    # the filter is also a filter: the English transcript is not Spanish
    assert found(ledger, "connected", language="es") == []
    # an English stop word still finds the words as written
    assert found(ledger, "the router", language="en") == [en]


@postgres_only
def test_wolves_are_not_wolf_to_postgres_english_stemmer(ledger: Ledger) -> None:
    """search.py's docstring says "wolves" finds "wolf": PostgreSQL's Snowball stemmer makes
    them 'wolv' and 'wolf', so it does not (this records what the stemmer does)."""
    wolf = add(ledger, "a wolf at the door", language="en")
    assert found(ledger, "wolves", language="en") == []
    assert found(ledger, "wolf", language="en") == [wolf]


def test_a_language_without_a_dictionary_still_finds_words(ledger: Ledger) -> None:
    ja = add(ledger, "荷物 が 届き ません", language="ja")
    assert found(ledger, "荷物", language="ja") == [ja]
    assert found(ledger, "荷物") == [ja]


# ─── the index follows the rows ──────────────────────────────────────────────────────────────


def test_a_changed_transcript_is_found_by_its_new_words_only(ledger: Ledger) -> None:
    row = add(ledger, "first draft about a refund")
    queued = add(ledger, None, state="transcribing")
    with ledger.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE transcriptions SET text = :t WHERE id = :id"),
            {"t": "final words about an exchange", "id": row},
        )
        conn.execute(
            sa.text("UPDATE transcriptions SET text = :t, state = 'transcribed' WHERE id = :id"),
            {"t": "refund arrived", "id": queued},
        )
    assert found(ledger, "exchange") == [row]
    assert found(ledger, "draft") == []
    assert found(ledger, "refund") == [queued]
    assert found(ledger, "about") == [row]
    with ledger.engine.begin() as conn:  # a change of another column keeps the words
        conn.execute(sa.text("UPDATE transcriptions SET state = 'delivered' WHERE id = :id"),
                     {"id": queued})  # fmt: skip
        conn.execute(sa.text("UPDATE transcriptions SET text = NULL WHERE id = :id"), {"id": row})
    assert found(ledger, "refund") == [queued]
    assert found(ledger, "exchange") == []


def test_a_deleted_transcript_leaves_the_index(ledger: Ledger, database_url: str) -> None:
    row = add(ledger, "ephemeral words")
    with ledger.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM transcriptions WHERE id = :id"), {"id": row})
    assert found(ledger, "ephemeral") == []
    if database_url.startswith("sqlite"):
        with ledger.engine.connect() as conn:
            hits = conn.execute(
                sa.text(
                    "SELECT count(*) FROM transcriptions_fts WHERE transcriptions_fts "
                    "MATCH 'ephemeral'"
                )
            ).scalar()
        assert hits == 0


# ─── with the other filters ──────────────────────────────────────────────────────────────────


def test_q_with_account_state_source_and_dates(ledger: Ledger) -> None:
    a = add(ledger, "refund please", created_at=T0)
    b = add(ledger, "refund please", account_id=4, created_at=T0 + timedelta(days=1))
    c = add(ledger, "refund please", state="failed", created_at=T0 + timedelta(days=2))
    d = add(ledger, "refund please", source="reconcile", created_at=T0 + timedelta(days=3))
    e = add(ledger, "no money back", created_at=T0 + timedelta(days=1))
    assert found(ledger, "refund") == [d, c, b, a]
    assert found(ledger, "refund", account_id=3) == [d, c, a]
    assert found(ledger, "refund", account_id=4) == [b]
    assert found(ledger, "refund", state="failed") == [c]
    assert found(ledger, "refund", state="delivered", account_id=3) == [d, a]
    assert found(ledger, "refund", source="reconcile") == [d]
    day = timedelta(days=1)
    assert found(ledger, "refund", since=T0 + day) == [d, c, b]
    assert found(ledger, "refund", until=T0 + 2 * day) == [b, a]  # until excluded
    assert found(ledger, "refund", since=T0 + day, until=T0 + 3 * day) == [c, b]
    assert found(ledger, "refund", before_id=c) == [b, a]
    assert found(ledger, "refund", limit=2) == [d, c]
    assert found(ledger, "refund", before_id=c, limit=1) == [b]
    assert found(ledger, "money", since=T0) == [e]
    assert found(ledger, "money", account_id=4) == []


@sqlite_only
@pytest.mark.parametrize(
    ("text", "q"),
    [
        ("أريد أن أعرف بِكُم هذا", "بِكُم"),
        ("Write to jane@example.com today", "jane@example.com"),
    ],
)
def test_sqlite_reads_the_query_as_it_read_the_transcripts(
    ledger: Ledger, text: str, q: str
) -> None:
    row = add(ledger, text)
    add(ledger, "some other words")
    assert found(ledger, q) == [row]


def test_fts5_query_quotes_every_piece() -> None:
    assert fts5_query('Parcel "damaged" parcel -x') == '"parcel" """damaged""" "-x"'
    assert fts5_query("  ...!!! 📦 ") == ""


def test_the_languages_searched_are_those_the_migration_indexed() -> None:
    path = Path(migrations.__file__).parent / "versions" / "0005_usage_budgets_search.py"
    spec = importlib.util.spec_from_file_location("migration_0005", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module._CONFIGS == PG_CONFIGS
