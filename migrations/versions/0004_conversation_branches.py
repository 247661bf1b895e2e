"""The versions of a conversation's messages left by regenerate and edit (issue 16).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: SQLite adds it with a plain ALTER TABLE, and a conversation never forked has
    # none (services/branches.py).
    op.add_column("conversations", sa.Column("branches", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("branches")
