"""A deployment with usage rows from before migration 0008 (no currency) upgrades on SQLite
and PostgreSQL: the rows stay, read as their model's current price currency (else the price
table's default) by the console, and the upgrade can be undone."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text

from services.admin import usage
from services.pricing import Price, PriceTable
from services.records import Records
from tests import records_db
from tests.integration.test_accounts_migration import migrate

NOW = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)
PRICES = PriceTable({"deepseek-chat": Price(Decimal(2), Decimal(8), "CNY")}, "USD")
OLD_ROW = (
    "INSERT INTO usage_events (at, owner, source, model, prompt_tokens, completion_tokens, "
    "cost) VALUES (:at, 'amy', 'page', :model, 10, 20, :cost)"
)


@pytest.fixture
def url(either_database_url: str) -> str:
    return either_database_url


def test_old_usage_rows_get_a_currency_column_and_keep_their_costs(url):
    records = Records(url)
    migrate(records, "0007")  # the schema before 0008, rows written as that code wrote them
    with records._writer.begin() as connection:
        for model, cost in (("deepseek-chat", 8.5), ("gpt-4o", 1.25), ("unpriced", None)):
            connection.execute(text(OLD_ROW), {"at": NOW, "model": model, "cost": cost})
    assert "currency" not in records_db.columns(records, "usage_events")

    records.upgrade()
    assert "currency" in records_db.columns(records, "usage_events")
    with records.engine.connect() as connection:
        found = connection.execute(
            text("SELECT model, cost, currency FROM usage_events ORDER BY id")
        ).all()
    assert [tuple(row) for row in found] == [
        ("deepseek-chat", 8.5, None),
        ("gpt-4o", 1.25, None),
        ("unpriced", None, None),
    ]
    # The console reads them in their model's currency, else the table's default.
    totals = usage.overview(records.engine, now=NOW, prices=PRICES)
    assert totals.today.cost == {"CNY": 8.5, "USD": 1.25}
    assert totals.today.tokens == 90

    migrate(records, "0007", down=True)
    assert "currency" not in records_db.columns(records, "usage_events")
    with records.engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM usage_events")) == 3
    records.close()
