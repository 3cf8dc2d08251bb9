"""usage, budgets and search: budgets per account, delivery times, budget alerts, and a
full-text index over transcripts

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

PostgreSQL gets a generated ``search_vector`` column (the transcript stemmed in its language
where PostgreSQL has a dictionary for it, plus every word as it is, ``simple``) with a GIN
index; SQLite gets an FTS5 table over ``transcriptions.text`` kept by triggers. Neither is in
the models: ``adapter.store.search`` queries them, and ``SEARCH_OBJECTS`` hides them from the
schema comparison. A later migration that rebuilds ``transcriptions`` on SQLite (a batch
operation) drops the triggers: it must create them again (``_sqlite_triggers``).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: ISO 639-1 code → PostgreSQL's text search configuration (the ones PostgreSQL 12+ ships),
#: frozen here: the generated column's expression is written once
_CONFIGS = {
    "ar": "arabic",
    "ca": "catalan",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "eu": "basque",
    "fi": "finnish",
    "fr": "french",
    "ga": "irish",
    "hi": "hindi",
    "hu": "hungarian",
    "hy": "armenian",
    "id": "indonesian",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "nl": "dutch",
    "no": "norwegian",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}


def _postgres_search() -> None:
    available = {
        row[0] for row in op.get_bind().execute(sa.text("SELECT cfgname FROM pg_ts_config"))
    }
    whens = " ".join(
        f"WHEN '{code}' THEN to_tsvector('{name}'::regconfig, coalesce(text, ''))"
        for code, name in _CONFIGS.items()
        if name in available
    )
    stemmed = f"CASE language {whens} ELSE ''::tsvector END"
    op.execute(
        "ALTER TABLE transcriptions ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
        f"(({stemmed}) || to_tsvector('simple'::regconfig, coalesce(text, ''))) STORED"
    )
    op.execute(
        "CREATE INDEX ix_transcriptions_search ON transcriptions USING gin (search_vector)"
    )


def _sqlite_triggers() -> None:
    op.execute(
        "CREATE TRIGGER transcriptions_fts_insert AFTER INSERT ON transcriptions BEGIN "
        "INSERT INTO transcriptions_fts(rowid, text) VALUES (new.id, new.text); END"
    )
    op.execute(
        "CREATE TRIGGER transcriptions_fts_delete AFTER DELETE ON transcriptions BEGIN "
        "INSERT INTO transcriptions_fts(transcriptions_fts, rowid, text) "
        "VALUES ('delete', old.id, old.text); END"
    )
    op.execute(
        "CREATE TRIGGER transcriptions_fts_update AFTER UPDATE OF text ON transcriptions BEGIN "
        "INSERT INTO transcriptions_fts(transcriptions_fts, rowid, text) "
        "VALUES ('delete', old.id, old.text); "
        "INSERT INTO transcriptions_fts(rowid, text) VALUES (new.id, new.text); END"
    )


def _sqlite_search() -> None:
    op.execute(
        "CREATE VIRTUAL TABLE transcriptions_fts USING fts5(text, content='transcriptions', "
        "content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
    )
    _sqlite_triggers()
    op.execute("INSERT INTO transcriptions_fts(transcriptions_fts) VALUES ('rebuild')")


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("monthly_budget_usd", sa.Float(), nullable=True))
    with op.batch_alter_table("transcriptions") as batch:
        batch.add_column(
            sa.Column("delivered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch.add_column(
            sa.Column("spent_seconds", sa.Float(), nullable=False, server_default="0")
        )
        batch.create_index("ix_transcriptions_account_created", ["account_id", "created_at"])
        batch.create_index("ix_transcriptions_created", ["created_at"])
        batch.create_index("ix_transcriptions_delivered", ["delivered_at"])
    op.create_table(
        "budget_alerts",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("month", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("spent_usd", sa.Float(), nullable=False),
        sa.Column("budget_usd", sa.Float(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "month", "threshold"),
    )
    # delivered before this revision: the best known time is the row's last change
    op.execute(
        "UPDATE transcriptions SET delivered_at = updated_at "
        "WHERE state = 'delivered' AND note_message_id IS NOT NULL"
    )
    # what was paid before this revision: every chunk of a transcript that was made
    op.execute(
        "UPDATE transcriptions SET spent_seconds = billed_seconds "
        "WHERE text IS NOT NULL AND billed_seconds IS NOT NULL"
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgres_search()
    else:
        _sqlite_search()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_transcriptions_search")
        op.execute("ALTER TABLE transcriptions DROP COLUMN IF EXISTS search_vector")
    else:
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS transcriptions_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS transcriptions_fts")
    op.drop_table("budget_alerts")
    with op.batch_alter_table("transcriptions") as batch:
        batch.drop_index("ix_transcriptions_delivered")
        batch.drop_index("ix_transcriptions_created")
        batch.drop_index("ix_transcriptions_account_created")
        batch.drop_column("spent_seconds")
        batch.drop_column("delivered_at")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("monthly_budget_usd")
