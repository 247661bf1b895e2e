"""Accounts, API tokens, usage per reply, the admin audit log, and feedback on replies (issue 17).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("username_key", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(8), nullable=False, server_default="user"),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("daily_tokens", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_active_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "user_id",
            sa.String(32),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("name", sa.String(64), nullable=False, server_default=""),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "usage_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("conversation_id", sa.String(32), nullable=True),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("model", sa.String(), nullable=True),
        sa.Column("persona", sa.String(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("cost", sa.Float(), nullable=True),
    )
    op.create_index("ix_usage_events_owner_at", "usage_events", ["owner", "at"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(64), nullable=False, server_default=""),
        sa.Column("detail", sa.Text(), nullable=False, server_default=""),
    )
    # Nullable columns: SQLite adds them with a plain ALTER TABLE, and old replies have none.
    op.add_column("messages", sa.Column("feedback", sa.String(8), nullable=True))
    op.add_column("messages", sa.Column("feedback_comment", sa.Text(), nullable=True))
    op.add_column("messages", sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_messages_feedback_at", "messages", ["feedback_at"])
    # The console counts messages per day.
    op.create_index("ix_messages_created_at", "messages", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_created_at", "messages")
    op.drop_index("ix_messages_feedback_at", "messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("feedback_at")
        batch.drop_column("feedback_comment")
        batch.drop_column("feedback")
    op.drop_table("audit_log")
    op.drop_index("ix_usage_events_owner_at", "usage_events")
    op.drop_table("usage_events")
    op.drop_table("api_tokens")
    op.drop_table("users")
