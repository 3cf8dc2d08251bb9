"""console sessions ended by signing out

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

``console_revocations`` holds the id of every console session signed out before its cookie
expired, with that expiry: the console refuses those cookies until then, and pruning (when a
session is revoked) removes the rows whose cookies have expired anyway.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_revocations",
        sa.Column("sid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sid"),
    )


def downgrade() -> None:
    op.drop_table("console_revocations")
