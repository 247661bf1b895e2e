"""Attachments go with their conversation: deleted, cleared or purged (in the app and by the
operator commands), and with a user deleted with --purge-records. Rows and files both."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from config import Settings
from services.accounts import Accounts
from services.attachments.store import AttachmentStore, open_store
from services.records.models import Attachment
from services.records.repository import Records
from tests.attachment_files import age_attachment, image_bytes
from tests.records_db import age, sqlite_url

APP_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def folder(tmp_path) -> Path:
    return tmp_path / "attachments"


@pytest.fixture
def url(tmp_path) -> str:
    url = sqlite_url(tmp_path)
    Records(url).upgrade()
    return url


def settings(url: str, folder: Path) -> Settings:
    return Settings(_env_file=None, database_url=url, attachment_dir=str(folder))


def stored(store: AttachmentStore, owner: str, conversation: str | None, count: int = 2):
    ids = [store.add(owner, f"p{n}.png", image_bytes()).id for n in range(count)]
    if conversation:
        assert store.link(owner, ids, conversation) == count
    return ids


def folders(folder: Path) -> set[str]:
    return {path.name for path in folder.glob("??/*")}


def rows(records: Records) -> set[str]:
    with records.engine.connect() as connection:
        return set(connection.scalars(select(Attachment.id)))


def test_deleting_a_conversation_deletes_its_attachments(make_app, url, folder):
    app = make_app(database_url=url, attachment_dir=str(folder))
    records = app.server.extensions["chat_records"]  # as the sidebar and the page use it
    store = app.server.extensions["chat_attachments"]
    gone = records.create_conversation("amy")
    kept = records.create_conversation("amy")
    doomed = stored(store, "amy", gone)
    others = stored(store, "amy", kept) + stored(store, "amy", None)
    assert folders(folder) == set(doomed + others)
    assert records.delete("bob", gone) is False  # not bob's: nothing goes
    assert folders(folder) == set(doomed + others)
    assert records.delete("amy", gone) is True
    assert folders(folder) == set(others) == rows(records.records)


def test_clearing_a_conversation_deletes_its_attachments(make_app, url, folder):
    app = make_app(database_url=url, attachment_dir=str(folder))
    records = app.server.extensions["chat_records"]
    store = app.server.extensions["chat_attachments"]
    cleared = records.create_conversation("amy")
    records.add_message("amy", cleared, {"role": "user", "content": "what is this?"})
    attachments = stored(store, "amy", cleared)
    assert records.clear("bob", cleared) is False and folders(folder) == set(attachments)
    assert records.clear("amy", cleared) is True
    assert folders(folder) == set() == rows(records.records)
    assert records.conversation("amy", cleared) is not None  # the conversation stays
    assert store.for_conversation("amy", cleared) == []


def test_purging_old_conversations_deletes_their_attachments(url, folder):
    records = Records(url)
    store = open_store(settings(url, folder), records)
    old, new = records.create_conversation("amy"), records.create_conversation("amy")
    stored(store, "amy", old)
    kept = stored(store, "amy", new)
    age(records, old, 40)
    assert records.purge(older_than_days=30) == 1
    assert folders(folder) == set(kept) == rows(records)


def run(module: str, url: str, folder: Path, *args: str) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "DATABASE_URL": url,
        "ATTACHMENT_DIR": str(folder),
        "CHAT_ENV_FILE": "",
    }
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=APP_DIR,
        env=environment,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_records_purge_command_deletes_attachments_and_abandoned_uploads(url, folder):
    records = Records(url)
    store = AttachmentStore(records.engine, folder, settings(url, folder))
    old, new = records.create_conversation("amy"), records.create_conversation("amy")
    stored(store, "amy", old)
    kept = stored(store, "amy", new)
    [abandoned] = stored(store, "amy", None, count=1)
    [fresh] = stored(store, "amy", None, count=1)  # uploaded a moment ago: may still be sent
    age(records, old, 40)
    age_attachment(store, abandoned, timedelta(hours=30))
    done = run("services.records.cli", url, folder, "records", "purge", "--days", "30")
    assert "deleted 1 conversation(s)" in done.stdout
    assert "deleted 1 attachment(s) that were never sent" in done.stdout
    assert folders(folder) == {*kept, fresh} == rows(records)


def test_deleting_a_user_with_purge_records_deletes_their_attachments(url, folder):
    records = Records(url)
    accounts = Accounts(records)
    cy, dee = accounts.add_user("cy", "cy-password"), accounts.add_user("dee", "dee-password")
    store = AttachmentStore(records.engine, folder, settings(url, folder))
    stored(store, cy.id, records.create_conversation(cy.id))
    stored(store, cy.id, None, count=1)  # never sent: also cy's
    theirs = stored(store, dee.id, records.create_conversation(dee.id))
    done = run("services.accounts.cli", url, folder, "delete", "cy", "--purge-records")
    assert "deleted 1 conversation(s)" in done.stdout
    assert folders(folder) == set(theirs) == rows(records)
    with records.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Attachment)) == 2


def test_the_consoles_delete_with_purge_deletes_the_users_files(make_app, url, folder):
    accounts = Accounts(Records(url))
    accounts.add_user("amy", "amy-password")
    app = make_app(accounts=True, database_url=url, attachment_dir=str(folder))
    client = app.server.test_client()
    client.post("/login", json={"username": "amy", "password": "amy-password"})
    sent = client.post(
        "/api/attachments",
        data={"file": (io.BytesIO(image_bytes()), "a.png")},
        content_type="multipart/form-data",
    )
    assert sent.status_code == 201 and folders(folder) == {sent.json["id"]}
    # As services/admin/users.py does it, with the app's own Accounts.
    app.server.extensions["chat_accounts"].delete_user("amy", purge=True)
    assert folders(folder) == set()
