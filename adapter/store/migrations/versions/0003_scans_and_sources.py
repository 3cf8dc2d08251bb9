"""reconciliation and backfill: where each transcription came from, the scans' state

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

Every existing transcription came from a webhook (``source = 'webhook'``).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("user_token_enc", sa.Text(), nullable=True))
    with op.batch_alter_table("transcriptions") as batch:
        batch.add_column(sa.Column("inbox_id", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column(
                "source",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="webhook",
            )
        )
    op.create_table(
        "account_scans",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("watermark", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("lease_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("lease_owner", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("counts_json", sa.Text(), nullable=True),
        sa.Column("found_total", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("account_id"),
    )
    op.create_table(
        "conversation_scans",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("last_activity_at", sa.BigInteger(), nullable=False),
        sa.Column("covered_since", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("covered_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("counts_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "conversation_id"),
    )


def downgrade() -> None:
    op.drop_table("conversation_scans")
    op.drop_table("account_scans")
    with op.batch_alter_table("transcriptions") as batch:
        batch.drop_column("source")
        batch.drop_column("inbox_id")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("user_token_enc")
