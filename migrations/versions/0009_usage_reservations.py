"""Daily quotas reserve a reply's worst case when it starts (services/quota.py): the usage row
is written then, holding `reserved` tokens until `held_until` (renewed while the reply runs),
and becomes the reply's real usage when it ends.

Existing rows are settled usage: both columns NULL.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("usage_events", sa.Column("reserved", sa.Integer(), nullable=True))
    op.add_column(
        "usage_events", sa.Column("held_until", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    # Batch mode: SQLite before 3.35 has no DROP COLUMN (it copies the table instead).
    with op.batch_alter_table("usage_events") as batch:
        batch.drop_column("held_until")
        batch.drop_column("reserved")
