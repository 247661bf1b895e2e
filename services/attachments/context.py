"""What of a conversation's documents goes with a question.

When every document fits the budget, each goes whole, in a `<document name="...">` block. When
they do not, the passages that best match the question go instead (the database's full-text
search), each in a `<passage document="..." location="page 150">` block, with a line asking the
model to say where it read what it uses. Every question searches again, so a follow-up about
another part of the document gets that part.

Names and locations are attribute values with `&`, `<`, `>` and `"` escaped, and a document's
text cannot close its own block: a user's file name or text is data for the model, never markup
that changes where one document ends.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from sqlalchemy.engine import Connection

from services.attachments.models import AttachmentInfo
from services.attachments.passages import Found, all_passages, search
from services.tokens import count_text

EXCERPTS_NOTE = (
    "The attached documents are too long to give whole: below are the excerpts that best "
    "match the question. Say which document and page (or sheet) you read what you use from."
)
NO_TEXT_NOTE = (
    'The attached document "{name}" is a scan without a text layer: its text cannot be read '
    "(it was not run through OCR)."
)
# The search is asked for one passage per this many tokens of budget: about four times what
# fits with passages of ~400 tokens, so the budget fills even when some found are too big.
_PASSAGE_GUESS = 100
_CLOSING_TAG = re.compile(r"</(document|passage)", re.IGNORECASE)


def _attribute(value: str) -> str:
    return html.escape(" ".join(value.split()), quote=True)


def _body(text: str) -> str:
    # "</document>" inside a document would end its block early for whoever reads the tags.
    return _CLOSING_TAG.sub(r"<\\/\1", text)


def _joined(parts: Iterable[str]) -> str:
    return "\n\n".join(part for part in parts if part)


def _whole(doc: AttachmentInfo, passages: list[Found]) -> str:
    """A document whole; a PDF's or a workbook's pages or sheets named where they start."""
    lines = [f'<document name="{_attribute(doc.name)}">']
    location = ""
    for passage in passages:
        if passage.location and passage.location != location:
            location = passage.location
            lines.append(f"[{location}]")
        lines.append(_body(passage.text))
    lines.append("</document>")
    return "\n".join(lines)


def _passage(name: str, found: Found) -> tuple[str, str]:
    """A passage's opening and closing tags."""
    where = f' location="{_attribute(found.location)}"' if found.location else ""
    return f'<passage document="{_attribute(name)}"{where}>', "</passage>"


def document_context(
    connection: Connection,
    docs: list[AttachmentInfo],
    question: str,
    *,
    budget: int,
    model: str,
) -> str:
    """The text that goes before `question` in the user's message: `docs` whole when they fit
    `budget` tokens (counted for `model`), else the passages that best match the question.
    "" when there are no documents."""
    docs = [doc for doc in docs if doc.kind == "document"]
    if not docs:
        return ""
    notes = [
        NO_TEXT_NOTE.format(name=_attribute(doc.name)) for doc in docs if doc.note == "no_text"
    ]
    readable = [doc for doc in docs if doc.note != "no_text"]
    used = count_text(_joined(notes), model)
    if sum(doc.tokens or 0 for doc in readable) + used <= budget:
        whole = _joined(_whole(doc, all_passages(connection, doc.id)) for doc in readable)
        if used + count_text(whole, model) <= budget:
            return _joined([*notes, whole])
    return _joined([*notes, _excerpts(connection, readable, question, budget - used, model)])


def _excerpts(
    connection: Connection, docs: list[AttachmentInfo], question: str, budget: int, model: str
) -> str:
    """The best passages for the question that fit `budget`, in the documents' order."""
    if not docs or budget <= 0:
        return ""
    names = {doc.id: doc.name for doc in docs}
    budget -= count_text(EXCERPTS_NOTE, model) + 2
    limit = max(8, budget // _PASSAGE_GUESS)
    found = search(connection, list(names), question, limit=limit)
    if not found:
        # Nothing matches ("summarise this"): the documents' beginnings, taken in turn.
        found = _beginnings(connection, list(names), limit)
    chosen: list[tuple[Found, str]] = []
    for passage in found:
        head, tail = _passage(names[passage.attachment_id], passage)
        body = _body(passage.text)
        cost = count_text(f"{head}\n{tail}", model) + count_text(body, model) + 2
        if cost <= budget:
            chosen.append((passage, f"{head}\n{body}\n{tail}"))
            budget -= cost
    if not chosen:
        return ""
    order = {doc_id: index for index, doc_id in enumerate(names)}
    chosen.sort(key=lambda pair: (order[pair[0].attachment_id], pair[0].seq))
    return _joined([EXCERPTS_NOTE, *(block for _, block in chosen)])


def _beginnings(connection: Connection, doc_ids: list[str], limit: int) -> list[Found]:
    """Up to `limit` passages: each document's first, then each one's second, and so on."""
    lists = [all_passages(connection, doc_id, limit=limit) for doc_id in doc_ids]
    out: list[Found] = []
    for index in range(max((len(passages) for passages in lists), default=0)):
        out.extend(passages[index] for passages in lists if index < len(passages))
        if len(out) >= limit:
            break
    return out[:limit]
