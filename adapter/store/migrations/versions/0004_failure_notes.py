"""failure notes: per account on or off, and on each transcription the note it owes

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

Every existing account gets failure notes (the contract's default, ``on``). Transcriptions that
ended before this revision owe none: the agents of those conversations are not told now, long
after the fact.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(
            sa.Column("failure_notes", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("transcriptions") as batch:
        batch.add_column(
            sa.Column("failure_note", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
        batch.add_column(sa.Column("failure_note_id", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("failure_note_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("failure_note_lease", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch.create_index("ix_transcriptions_failure_note", ["failure_note"])


def downgrade() -> None:
    with op.batch_alter_table("transcriptions") as batch:
        batch.drop_index("ix_transcriptions_failure_note")
        for name in (
            "failure_note_lease",
            "failure_note_attempts",
            "failure_note_id",
            "failure_note",
        ):
            batch.drop_column(name)
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("failure_notes")
