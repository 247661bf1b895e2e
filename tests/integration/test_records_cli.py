"""The operator CLI, run as operators run it: `python -m services.records.cli ...`."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from services.records import Records
from tests.records_db import age, sqlite_url

APP_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def url(tmp_path) -> str:
    return sqlite_url(tmp_path)


def cli(url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DATABASE_URL": url, "CHAT_ENV_FILE": ""}
    environment.pop("RECORDS_RETENTION_DAYS", None)
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "services.records.cli", *args],
        cwd=APP_DIR,
        env=environment,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )


REF = {"id": "a" * 32, "name": "图表.png", "kind": "image", "mime": "image/png", "size": 2048}


@pytest.fixture
def seeded(url) -> dict:
    """Two conversations, one 10 days old (tables created in-process: faster than the CLI)."""
    records = Records(url)
    records.upgrade()
    old = records.create_conversation("alice", persona="chef")
    question = {"role": "user", "content": "Old question", "attachments": [REF]}
    records.add_message("alice", old, question)
    records.add_message(
        "alice",
        old,
        {
            "role": "assistant",
            "content": "An answer, with a comma",
            "model": "gpt-4o",
            "usage": {"prompt_tokens": 3, "completion_tokens": 4},
            "status": "done",
        },
    )
    age(records, old, days=10)
    new = records.create_conversation("bob")
    records.add_message("bob", new, {"role": "user", "content": "Grüße — 你好\nzweite Zeile"})
    records.add_message("bob", new, {"role": "error", "kind": "timeout", "detail": "no reply"})
    records.close()
    return {"old": old, "new": new}


def test_db_upgrade(url):
    for _ in range(2):  # the second run finds nothing to do
        done = cli(url, "db", "upgrade")
        assert done.returncode == 0, done.stderr
        assert "up to date" in done.stdout
    records = Records(url)
    assert records.conversation("alice", records.create_conversation("alice")) is not None


def test_export_jsonl(url, seeded):
    done = cli(url, "records", "export", "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["conversation_id"], r["seq"], r["role"]) for r in rows] == [
        (seeded["old"], 1, "user"),
        (seeded["old"], 2, "assistant"),
        (seeded["new"], 1, "user"),
        (seeded["new"], 2, "error"),
    ]
    assert rows[1]["prompt_tokens"] == 3 and rows[1]["persona"] == "chef"
    assert rows[2]["content"] == "Grüße — 你好\nzweite Zeile"
    assert rows[3]["error_kind"] == "timeout"
    assert rows[0]["attachments"] == [REF] and rows[1]["attachments"] is None


def test_export_csv_to_a_file(url, seeded, tmp_path):
    target = tmp_path / "out.csv"
    done = cli(url, "records", "export", "--format", "csv", "--output", str(target))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"), newline="")))
    assert len(rows) == 4
    assert list(rows[0]) == [
        "conversation_id",
        "owner",
        "title",
        "persona",
        "seq",
        "role",
        "content",
        "model",
        "status",
        "error_kind",
        "error_detail",
        "prompt_tokens",
        "completion_tokens",
        "created_at",
        "feedback",
        "feedback_comment",
        "feedback_at",
        "attachments",
    ]
    assert json.loads(rows[0]["attachments"]) == [REF] and rows[1]["attachments"] == ""
    assert rows[1]["content"] == "An answer, with a comma"
    assert rows[2]["content"] == "Grüße — 你好\nzweite Zeile"  # non-ASCII and newline intact
    assert rows[2]["title"] == "Grüße — 你好"


def test_export_csv_to_stdout_in_a_c_locale(url, seeded):
    done = cli(url, "records", "export", "--format", "csv", LC_ALL="C", PYTHONIOENCODING="ascii")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout, newline="")))
    assert [row["owner"] for row in rows] == ["alice", "alice", "bob", "bob"]
    assert rows[2]["content"] == "Grüße — 你好\nzweite Zeile"


def test_export_since(url, seeded):
    since = datetime.now(timezone.utc).date() - timedelta(days=3)
    done = cli(url, "records", "export", "--format", "jsonl", "--since", since.isoformat())
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert {r["conversation_id"] for r in rows} == {seeded["new"]}
    assert len(rows) == 2

    bad = cli(url, "records", "export", "--format", "jsonl", "--since", "last week")
    assert bad.returncode == 2
    assert "YYYY-MM-DD" in bad.stderr


def test_purge_with_days(url, seeded):
    done = cli(url, "records", "purge", "--days", "30")
    assert (done.returncode, done.stdout) == (
        0,
        "deleted 0 conversation(s) not updated for 30 day(s)\n",
    )
    done = cli(url, "records", "purge", "--days", "7")
    assert done.returncode == 0, done.stderr
    assert "deleted 1 conversation(s)" in done.stdout
    records = Records(url)
    assert records.conversation("alice", seeded["old"]) is None
    assert records.conversation("bob", seeded["new"]) is not None


def test_purge_with_retention_setting(url, seeded):
    done = cli(url, "records", "purge", RECORDS_RETENTION_DAYS="5")
    assert done.returncode == 0, done.stderr
    assert "deleted 1 conversation(s) not updated for 5 day(s)" in done.stdout
    # --days wins over the setting.
    done = cli(url, "records", "purge", "--days", "1", RECORDS_RETENTION_DAYS="5")
    assert "not updated for 1 day(s)" in done.stdout


def test_purge_needs_a_number_of_days(url, seeded):
    done = cli(url, "records", "purge")
    assert done.returncode != 0
    assert "--days" in done.stderr and "RECORDS_RETENTION_DAYS" in done.stderr
    assert Records(url).conversation("alice", seeded["old"]) is not None

    zero = cli(url, "records", "purge", "--days", "0")
    assert zero.returncode == 2 and "1 or more" in zero.stderr
    invalid = cli(url, "records", "purge", RECORDS_RETENTION_DAYS="0")
    assert invalid.returncode == 2 and "records_retention_days" in invalid.stderr


def test_export_before_upgrade_is_a_clear_error(url, tmp_path):
    target = tmp_path / "out.jsonl"
    done = cli(url, "records", "export", "--format", "jsonl", "--output", str(target))
    assert done.returncode == 1
    assert "db upgrade" in done.stderr
    assert not target.exists()
