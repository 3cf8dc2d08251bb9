"""live transcription: each account's stream token, sealed, and its lookup digest

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-20

An account gains an optional stream token (the bearer token of ``WS /v1/realtime``), sealed to
its account and field like the other secrets, and the token's lookup digest (HMAC-SHA256 under
a key derived from the encryption keys, never the token nor a plain hash of it) in a unique
index: the token alone finds its account. Existing accounts have none (streams refused).

A stream's transcript is a transcriptions row of source ``stream``; it needs no column of its
own (``adapter.store.ledger.Ledger.record_stream`` says how its message, attachment and
conversation are written).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_INDEX = "ix_accounts_stream_token_digest"


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("stream_token_enc", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column(
                "stream_token_digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
            )
        )
    op.create_index(_INDEX, "accounts", ["stream_token_digest"], unique=True)


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="accounts")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("stream_token_digest")
        batch.drop_column("stream_token_enc")
