"""Replies on record while they stream: who writes them, and when it last said so.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns: SQLite adds them with a plain ALTER TABLE, no table copy.
    op.add_column("messages", sa.Column("writer", sa.String(), nullable=True))
    op.add_column("messages", sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    # The start-up sweep looks for status = 'streaming' among every message.
    op.create_index("ix_messages_status", "messages", ["status"])


def downgrade() -> None:
    op.drop_index("ix_messages_status", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("writer")
