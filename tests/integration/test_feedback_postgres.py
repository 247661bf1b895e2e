"""Feedback on replies in the records, on PostgreSQL: the same behaviour as on SQLite.

Needs TEST_POSTGRES_URL, or a local PostgreSQL to start (see tests/records_db.py).
"""

from __future__ import annotations

import pytest

from tests.unit.test_feedback import FeedbackRecords


@pytest.fixture
def records(postgres_records):
    return postgres_records


class TestPostgres(FeedbackRecords):
    pass
