"""A document the readers refuse (services/attachments/documents.py) is answered like any other
refusal of the upload route: 400 with its code, nothing stored (not a 500)."""

from __future__ import annotations

import pytest

from services.attachments.errors import AttachmentError as DocumentError
from services.attachments.kinds import AttachmentError
from tests import sample_documents as documents
from tests.integration.test_attachments import app, files, folder, upload  # noqa: F401


def test_the_readers_raise_the_error_the_route_catches() -> None:
    assert DocumentError is AttachmentError


@pytest.mark.parametrize(
    ("data", "name", "code"),
    [
        (documents.encrypted_pdf(), "locked.pdf", "encrypted"),
        (b"%PDF-1.7\n" + b"\0" * 200, "broken.pdf", "corrupt"),
    ],
)
def test_a_refused_document_is_400_with_its_code(app, folder, data, name, code):  # noqa: F811
    answer = upload(app.server.test_client(), data, name)

    assert answer.status_code == 400, answer.json
    assert answer.json["error"]["type"] == code
    assert files(folder) == []
