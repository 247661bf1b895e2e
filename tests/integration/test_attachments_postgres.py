"""The attachments' store on PostgreSQL: the same behaviour as on SQLite.

Needs TEST_POSTGRES_URL, or a local PostgreSQL to start (see tests/records_db.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.records import Records
from tests import records_db
from tests.unit.test_attachment_store import StoreBehaviour


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


class TestPostgres(StoreBehaviour):
    def test_really_postgres(self, store):
        with store.connection() as connection:
            assert connection.dialect.name == "postgresql"
