"""The currency of a usage row's cost: prices.yaml prices each model in its own currency, and
the console must not add CNY to USD.

Existing rows keep NULL (their currency was never recorded). The migration has no price table
to read, so it does not guess: the console reads a NULL as the currency the row's model is
priced in now, else the price table's default currency (services/admin/usage.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("usage_events", sa.Column("currency", sa.String(3), nullable=True))


def downgrade() -> None:
    # Batch mode: SQLite before 3.35 has no DROP COLUMN (it copies the table instead).
    with op.batch_alter_table("usage_events") as batch:
        batch.drop_column("currency")
