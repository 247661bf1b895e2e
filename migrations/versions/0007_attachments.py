"""Attachments and their passages, with full-text search (issue 18).

SQLite searches the passages with an FTS5 table kept in step by triggers; PostgreSQL with a
generated tsvector column and a GIN index. Both index `terms` with the 'simple' rules (words
as they are, lowercased): services/attachments makes `terms` so that Chinese is searchable too.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(), nullable=False, index=True),
        sa.Column(
            "conversation_id",
            sa.String(32),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=True,
            index=True,
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("mime", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("tokens", sa.Integer(), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    op.create_table(
        "attachment_passages",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "attachment_id",
            sa.String(32),
            sa.ForeignKey("attachments.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(200), nullable=False, server_default=""),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False, server_default="0"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE attachment_passages ADD COLUMN search tsvector "
            "GENERATED ALWAYS AS (to_tsvector('simple', terms)) STORED"
        )
        op.execute(
            "CREATE INDEX ix_attachment_passages_search ON attachment_passages USING GIN (search)"
        )
    else:
        # An external-content FTS5 table: the text lives once, in attachment_passages.
        op.execute(
            "CREATE VIRTUAL TABLE attachment_passages_fts USING fts5("
            "terms, content='attachment_passages', content_rowid='id', tokenize='unicode61')"
        )
        op.execute(
            "CREATE TRIGGER attachment_passages_ai AFTER INSERT ON attachment_passages BEGIN "
            "INSERT INTO attachment_passages_fts(rowid, terms) VALUES (new.id, new.terms); END"
        )
        op.execute(
            "CREATE TRIGGER attachment_passages_ad AFTER DELETE ON attachment_passages BEGIN "
            "INSERT INTO attachment_passages_fts(attachment_passages_fts, rowid, terms) "
            "VALUES ('delete', old.id, old.terms); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TRIGGER IF EXISTS attachment_passages_ad")
        op.execute("DROP TRIGGER IF EXISTS attachment_passages_ai")
        op.execute("DROP TABLE IF EXISTS attachment_passages_fts")
    op.drop_table("attachment_passages")
    op.drop_table("attachments")
