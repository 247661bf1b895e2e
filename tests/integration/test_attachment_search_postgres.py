"""Passages, their full-text search and the documents' context on PostgreSQL: the behaviour of
tests/unit/test_attachment_search.py again, on the tsvector column migration 0007 makes.

Needs TEST_POSTGRES_URL (see tests/records_db.py); each test gets an empty schema.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from services.records import Records
from tests import records_db
from tests.unit.test_attachment_search import (
    CHINESE,
    ContextBehaviour,
    SearchBehaviour,
    add_document,
    long_document,  # noqa: F401 (a fixture the behaviour classes use)
    paragraphs,
)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    yield from records_db.postgres_server()


@pytest.fixture
def postgres_url(postgres_server) -> Iterator[str]:
    with records_db.empty_schema(postgres_server) as url:
        yield url


@pytest.fixture
def records(postgres_url) -> Records:
    records = Records(postgres_url)
    records.upgrade()
    yield records
    records.close()


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
