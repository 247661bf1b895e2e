"""Feedback on replies in the records, on PostgreSQL: the same behaviour as on SQLite.

Needs TEST_POSTGRES_URL, or a local PostgreSQL to start (see tests/records_db.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.records import Records
from tests import records_db
from tests.unit.test_feedback import FeedbackRecords


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


class TestPostgres(FeedbackRecords):
    pass
