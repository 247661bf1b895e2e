"""Passages, their full-text search and the documents' context on PostgreSQL: the behaviour of
tests/unit/test_attachment_search.py again, on the tsvector column migration 0007 makes.

Needs TEST_POSTGRES_URL (see tests/records_db.py); each test gets an empty schema.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.unit.test_attachment_search import (
    CHINESE,
    ContextBehaviour,
    SearchBehaviour,
    add_document,
    long_document,  # noqa: F401 (a fixture the behaviour classes use)
    paragraphs,
)


@pytest.fixture
def records(postgres_records):
    return postgres_records


class TestPostgres(SearchBehaviour, ContextBehaviour):
    def test_really_postgres_with_its_search_column(self, records):
        doc = add_document(records, "规定.docx", paragraphs(CHINESE[2]))
        with records.engine.connect() as connection:
            assert connection.dialect.name == "postgresql"
            vector = connection.scalar(
                text("SELECT search::text FROM attachment_passages WHERE attachment_id = :id"),
                {"id": doc.id},
            )
        # The pairs of Chinese characters are lexemes of their own.
        assert "'住宿'" in vector
