"""Documents through POST /api/attachments: read into passages on upload, refused in plain
words when they cannot be read, nothing stored for a refusal (issue 18)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from extensions import ATTACHMENTS
from services.attachments.passages import search
from services.records.models import Attachment, AttachmentPassage
from tests.integration.test_attachments import upload
from tests.sample_documents import (
    QUESTION,
    SENTENCE,
    docx_file,
    encrypted_pdf,
    image_pdf,
    long_pdf,
    xlsx_file,
    zip_bomb_docx,
)


@pytest.fixture
def folder(tmp_path) -> Path:
    return tmp_path / "attachments"


@pytest.fixture
def app(make_app, tmp_path, folder):
    return make_app(database_url=f"sqlite:///{tmp_path}/chat.db", attachment_dir=str(folder))


def count(app, table) -> int:
    with app.server.extensions[ATTACHMENTS].engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(table))


def test_a_long_pdf_is_read_into_searchable_pages(app):
    client = app.server.test_client()
    answer = upload(client, long_pdf(), "report.pdf")
    assert answer.status_code == 201, answer.get_json()
    info = answer.get_json()
    assert (info["kind"], info["mime"], info["pages"]) == ("document", "application/pdf", 200)
    assert info["tokens"] > 20_000 and info["note"] is None
    assert "thumbnail" not in info
    store = app.server.extensions[ATTACHMENTS]
    with store.engine.connect() as connection:
        found = search(connection, [info["id"]], QUESTION, limit=3)
    assert found[0].location == "page 150" and SENTENCE in found[0].text


@pytest.mark.parametrize(
    ("data", "name", "kind"),
    [
        (docx_file(["第一段：课程安排。"], table=[["周一", "数学"]]), "课程.docx", "docx"),
        (xlsx_file({"Sales": [["month", "total"], ["May", 12]]}), "sales.xlsx", "xlsx"),
        (b"name,score\nAmy,90\n", "scores.csv", "csv"),
        ("# 标题\n\n正文内容。".encode("gb18030"), "notes.md", "md"),
    ],
)
def test_office_and_text_documents_are_accepted(app, data, name, kind):
    answer = upload(app.server.test_client(), data, name)
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["kind"] == "document"
    assert count(app, AttachmentPassage) >= 1


def test_a_scanned_pdf_is_kept_with_a_plain_note(app):
    answer = upload(app.server.test_client(), image_pdf(), "scan.pdf")
    assert answer.status_code == 201
    assert answer.get_json()["note"] == "no_text"
    assert count(app, AttachmentPassage) == 0


@pytest.mark.parametrize(
    ("data", "name", "code"),
    [
        (encrypted_pdf(), "locked.pdf", "encrypted"),
        (long_pdf(pages=3)[:900], "broken.pdf", "corrupt"),
        (zip_bomb_docx(), "bomb.docx", "corrupt"),
    ],
)
def test_unreadable_documents_are_refused_and_nothing_is_stored(app, folder, data, name, code):
    answer = upload(app.server.test_client(), data, name)
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["type"] == code and error["message"]
    assert count(app, Attachment) == 0 and count(app, AttachmentPassage) == 0
    assert [p for p in folder.rglob("*") if p.is_file() and p.suffix != ".db"] == []
