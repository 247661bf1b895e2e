"""services.attachments.turn: which attachments a turn sends, always by owner: the question's
own (another's refused as missing), an earlier question's images, the conversation's
documents (on record, or named by the browser's copy with records off)."""

from __future__ import annotations

import sys
import types
from contextlib import contextmanager

import pytest

from services.attachments.errors import AttachmentError
from services.attachments.models import AttachmentInfo
from services.attachments.turn import turn_files


def info(n: int, kind: str = "image", conversation: str | None = None) -> AttachmentInfo:
    mime = "image/png" if kind == "image" else "application/pdf"
    return AttachmentInfo(id=f"{n:032x}", name=f"f{n}", kind=kind, mime=mime, size=n)


class FakeStore:
    """The store's interface (services/attachments/store.py), in memory, by owner."""

    def __init__(self):
        self.rows: dict[str, tuple[str, str | None, AttachmentInfo]] = {}

    def put(self, owner, item: AttachmentInfo, conversation=None):
        self.rows[item.id] = (owner, conversation, item)

    def get(self, owner, attachment_id):
        row = self.rows.get(attachment_id)
        return row[2] if row and row[0] == owner else None

    def resolve(self, owner, ids, conversation_id):
        found = []
        for attachment_id in ids:
            row = self.rows.get(attachment_id)
            if row is None or row[0] != owner or row[1] not in (None, conversation_id):
                raise AttachmentError("missing")
            found.append(row[2])
        return found

    def for_conversation(self, owner, conversation_id, kind=None):
        return [
            item
            for o, c, item in self.rows.values()
            if o == owner and c == conversation_id and kind in (None, item.kind)
        ]

    def model_part(self, owner, attachment_id, detail="auto"):
        assert self.get(owner, attachment_id) is not None
        return {"type": "image_url", "image_url": {"url": f"data:{attachment_id}"}}

    @contextmanager
    def connection(self):
        yield "connection"


@pytest.fixture
def context(monkeypatch):
    """document_context stand-in: records what it was given."""
    calls = []

    def document_context(connection, docs, question, *, budget, model):
        calls.append(([d.id for d in docs], question, budget, model))
        return "DOCS"

    module = types.ModuleType("services.attachments.context")
    module.document_context = document_context
    monkeypatch.setitem(sys.modules, "services.attachments.context", module)
    return calls


def ref(item: AttachmentInfo) -> dict:
    return {"id": item.id, "kind": item.kind, "name": item.name}


def test_the_questions_own_and_an_earlier_questions_images(context):
    store = FakeStore()
    mine, earlier, theirs = info(1), info(2), info(3)
    store.put("me", mine)
    store.put("me", earlier, "c1")
    store.put("them", theirs)
    files = turn_files(
        store, "me", [mine.id], history=[], conversation_id="c1", on_record=True, model="m"
    )
    assert files.ids == [mine.id] and [r.id for r in files.refs] == [mine.id]
    assert files.plan.images == (store.model_part("me", mine.id),)
    entry = {"role": "user", "content": "x", "attachments": [ref(earlier), ref(theirs)]}
    assert files.plan.earlier_images(entry) == [store.model_part("me", earlier.id)]
    assert files.plan.documents is None  # no documents: no search
    with pytest.raises(AttachmentError) as refused:
        turn_files(
            store, "me", [theirs.id], history=[], conversation_id=None, on_record=True, model="m"
        )
    assert refused.value.code == "missing"


def test_documents_on_record_are_the_conversations(context):
    store = FakeStore()
    old, new, elsewhere = info(1, "document"), info(2, "document"), info(3, "document")
    store.put("me", old, "c1")
    store.put("me", new)
    store.put("me", elsewhere, "c2")
    files = turn_files(
        store, "me", [new.id], history=[], conversation_id="c1", on_record=True, model="gpt-4o"
    )
    assert files.plan.documents("Which page?", 900) == "DOCS"
    assert context == [([old.id, new.id], "Which page?", 900, "gpt-4o")]


def test_documents_with_records_off_are_named_by_the_history(context):
    store = FakeStore()
    named, theirs, image = info(1, "document"), info(2, "document"), info(3)
    store.put("me", named)
    store.put("them", theirs)
    store.put("me", image)
    history = [
        {"role": "user", "content": "x", "attachments": [ref(named), ref(theirs), ref(image)]},
        {"role": "assistant", "content": "y", "attachments": [ref(named)]},
    ]
    files = turn_files(
        store, "me", [], history=history, conversation_id="c1", on_record=False, model="m"
    )
    files.plan.documents("q", 10)
    assert context == [([named.id], "q", 10, "m")]
