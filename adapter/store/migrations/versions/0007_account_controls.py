"""what gets transcribed, per account: inboxes, a minimum length, on-demand mode, a language
hint per inbox

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

Every existing account keeps transcribing everything, as before: all inboxes, no minimum,
``auto`` mode, no hints.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("inbox_ids", sa.Text(), nullable=True))
        batch.add_column(sa.Column("min_seconds", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column(
                "mode",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="auto",
            )
        )
        batch.add_column(sa.Column("inbox_languages", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        for name in ("inbox_languages", "mode", "min_seconds", "inbox_ids"):
            batch.drop_column(name)
