"""The admin console's queries on PostgreSQL: the same behaviour as on SQLite
(tests/unit/test_admin_services.py), day grouping and escaped search included.

Needs TEST_POSTGRES_URL (see tests/records_db.py); each test gets an empty schema.
"""

from __future__ import annotations

import pytest

from tests.unit.test_admin_services import AdminBehaviour


@pytest.fixture
def records(postgres_records):
    return postgres_records


class TestPostgres(AdminBehaviour):
    def test_really_postgres(self, records):
        assert records.engine.dialect.name == "postgresql"
