"""The records repository on PostgreSQL: the same behaviour as on SQLite, plus concurrency.

Needs TEST_POSTGRES_URL (see tests/records_db.py); each test gets an empty schema.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from services.records import Records
from tests.records_db import add_messages_worker, run_processes, upgrade_worker
from tests.unit.test_records_repository import RecordsBehaviour


@pytest.fixture
def records(postgres_records):
    return postgres_records


class TestPostgres(RecordsBehaviour):
    def test_really_postgres(self, records):
        with records.engine.connect() as connection:
            assert connection.dialect.name == "postgresql"
            assert connection.dialect.driver == "psycopg"
            assert connection.scalar(text("SHOW server_version")).startswith(("15", "16", "17"))

    def test_concurrent_writers(self, records, postgres_url):
        cid = records.create_conversation("alice")
        run_processes(add_messages_worker, [(postgres_url, "alice", cid, 50)] * 4)
        with records.engine.connect() as connection:
            seqs = connection.scalars(text("SELECT seq FROM messages ORDER BY seq")).all()
        assert seqs == list(range(1, 201))
        assert len(records.history("alice", cid)) == 200

    def test_concurrent_upgrades(self, postgres_url):
        # Without the advisory lock, the second CREATE TABLE fails on a duplicate type name.
        run_processes(upgrade_worker, [(postgres_url,)] * 3)
        records = Records(postgres_url)
        with records.engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM alembic_version")) == 1
        assert records.conversation("alice", records.create_conversation("alice"))
        records.close()
