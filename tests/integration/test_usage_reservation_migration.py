"""A deployment with usage rows from before migration 0009 upgrades on SQLite and PostgreSQL:
its rows are settled usage (no reservation) and count as before, and the upgrade can be
undone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from services.quota import Quota, Spent
from services.records import Records
from tests import records_db
from tests.integration.test_accounts_migration import migrate

NOW = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)
OLD_ROW = (
    "INSERT INTO usage_events (at, owner, source, model, prompt_tokens, completion_tokens) "
    "VALUES (:at, 'amy', 'page', 'gpt-4o-mini', 10, 20)"
)


@pytest.fixture
def url(either_database_url: str) -> str:
    return either_database_url


def test_old_usage_rows_are_settled_usage_after_the_upgrade(url):
    records = Records(url)
    migrate(records, "0008")
    with records._writer.begin() as connection:
        connection.execute(text(OLD_ROW), {"at": NOW})
    assert not {"reserved", "held_until"} & records_db.columns(records, "usage_events")

    records.upgrade()
    assert {"reserved", "held_until"} <= records_db.columns(records, "usage_events")
    keeper = Quota.for_records(records, 100)
    later = NOW + timedelta(minutes=1)
    assert keeper.used_today("amy", now=later) == 30
    # A reservation on the upgraded table takes what is left after the old row.
    start = Spent(owner="amy", source="api", prompt_tokens=5)
    held = keeper.reserve(start, 100, reply_tokens=1000, now=later)
    assert (held.tokens, held.max_tokens) == (70, 65)

    migrate(records, "0008", down=True)
    assert not {"reserved", "held_until"} & records_db.columns(records, "usage_events")
    with records.engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM usage_events")) == 2
    records.close()
