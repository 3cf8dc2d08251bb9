"""chunks as units of work: state, lease, attempts and audio per chunk

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

Existing chunk rows were a cache of finished engine calls under the old single-message plan;
they are dropped, and transcriptions caught mid-way are queued again (their next attempt plans
chunks afresh; at most the chunks in flight at upgrade time are paid twice).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM transcript_chunks")
    op.execute(
        "UPDATE transcriptions SET state = 'queued', lease_until = NULL "
        "WHERE state = 'transcribing'"
    )
    with op.batch_alter_table("transcript_chunks") as batch:
        batch.add_column(sa.Column("state", sa.String(16), nullable=False, server_default="pending"))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("lease_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("lead_overlap", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("source_duration", sa.Float(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("timemap_json", sa.Text(), nullable=True))
        batch.add_column(sa.Column("audio", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("audio_ext", sa.String(16), nullable=True))
        batch.add_column(sa.Column("error", sa.Text(), nullable=True))
        # the table is empty (above), so a NOT NULL column needs no default
        batch.add_column(
            sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False)
        )
        batch.alter_column("result_json", existing_type=sa.Text(), nullable=True)
        batch.create_index("ix_transcript_chunks_state", ["transcription_id", "state"])


def downgrade() -> None:
    op.execute("DELETE FROM transcript_chunks")
    with op.batch_alter_table("transcript_chunks") as batch:
        batch.drop_index("ix_transcript_chunks_state")
        batch.alter_column("result_json", existing_type=sa.Text(), nullable=False)
        for name in (
            "updated_at",
            "error",
            "audio_ext",
            "audio",
            "timemap_json",
            "source_duration",
            "lead_overlap",
            "lease_until",
            "attempts",
            "state",
        ):
            batch.drop_column(name)
