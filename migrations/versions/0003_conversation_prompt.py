"""A custom persona's system prompt is kept with its conversation (issue 15).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: SQLite adds it with a plain ALTER TABLE, and older conversations keep none.
    op.add_column("conversations", sa.Column("persona_prompt", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("persona_prompt")
