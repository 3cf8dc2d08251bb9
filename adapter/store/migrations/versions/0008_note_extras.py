"""more than words: summaries, translation, speaker turns and redaction, per account

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

Accounts gain their opt-in options (all off for existing accounts: no summaries, no
translation, no redaction, no speaker turns). Transcriptions gain what the chat model wrote
and what it cost (tokens), the speaker turns of a stereo call, and when the extras were
settled; a chunk remembers which channel (speaker) it holds.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ACCOUNT_COLUMNS = (
    "speakers",
    "phone_region",
    "redact",
    "translate_to",
    "chat_base_url",
    "chat_model",
    "summary_min_seconds",
)
_TRANSCRIPTION_COLUMNS = (
    "chat_output_tokens",
    "chat_input_tokens",
    "chat_model",
    "extras_error",
    "extras_at",
    "turns_json",
    "translation_language",
    "translation",
    "summary",
)


def _string(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(
            sa.Column("summary_min_seconds", sa.Float(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("chat_model", _string(128), nullable=True))
        batch.add_column(sa.Column("chat_base_url", _string(2048), nullable=True))
        batch.add_column(sa.Column("translate_to", _string(8), nullable=True))
        batch.add_column(sa.Column("redact", _string(64), nullable=True))
        batch.add_column(sa.Column("phone_region", _string(2), nullable=True))
        batch.add_column(sa.Column("speakers", _string(128), nullable=True))
    with op.batch_alter_table("transcriptions") as batch:
        batch.add_column(sa.Column("summary", sa.Text(), nullable=True))
        batch.add_column(sa.Column("translation", sa.Text(), nullable=True))
        batch.add_column(sa.Column("translation_language", _string(8), nullable=True))
        batch.add_column(sa.Column("turns_json", sa.Text(), nullable=True))
        batch.add_column(sa.Column("extras_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("extras_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("chat_model", _string(128), nullable=True))
        batch.add_column(
            sa.Column("chat_input_tokens", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("chat_output_tokens", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("transcript_chunks") as batch:
        batch.add_column(sa.Column("channel", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transcript_chunks") as batch:
        batch.drop_column("channel")
    with op.batch_alter_table("transcriptions") as batch:
        for name in _TRANSCRIPTION_COLUMNS:
            batch.drop_column(name)
    with op.batch_alter_table("accounts") as batch:
        for name in _ACCOUNT_COLUMNS:
            batch.drop_column(name)
