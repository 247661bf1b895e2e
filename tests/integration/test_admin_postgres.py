"""The admin console's queries on PostgreSQL: the same behaviour as on SQLite
(tests/unit/test_admin_services.py), day grouping and escaped search included.

Needs TEST_POSTGRES_URL (see tests/records_db.py); each test gets an empty schema.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.records import Records
from tests import records_db
from tests.unit.test_admin_services import AdminBehaviour


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    yield from records_db.postgres_server()


@pytest.fixture
def records(postgres_server) -> Iterator[Records]:
    with records_db.empty_schema(postgres_server) as url:
        records = Records(url)
        records.upgrade()
        yield records
        records.close()


class TestPostgres(AdminBehaviour):
    def test_really_postgres(self, records):
        assert records.engine.dialect.name == "postgresql"
