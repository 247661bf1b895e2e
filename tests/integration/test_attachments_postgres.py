"""The attachments' store on PostgreSQL: the same behaviour as on SQLite.

Needs TEST_POSTGRES_URL, or a local PostgreSQL to start (see tests/records_db.py).
"""

from __future__ import annotations

import pytest

from tests.unit.test_attachment_store import StoreBehaviour


@pytest.fixture
def records(postgres_records):
    return postgres_records


class TestPostgres(StoreBehaviour):
    def test_really_postgres(self, store):
        with store.connection() as connection:
            assert connection.dialect.name == "postgresql"
