"""A question's attachments on their way upstream: each checked to be the caller's, then made
into what the plan sends (services/plan.py TurnAttachments): the question's images, an earlier
question's images again, and the conversation's documents as context for the question.

The store (services/attachments/store.py) answers only for the owner, so an id of another
identity is refused as missing (the question's own) or left out (an earlier entry's).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from services.attachments.models import AttachmentInfo, AttachmentRef
from services.plan import TurnAttachments

log = logging.getLogger(__name__)


@dataclass
class TurnFiles:
    """A page turn's attachments: the question's own, and what they add to its request."""

    attached: list[AttachmentInfo] = field(default_factory=list)
    plan: TurnAttachments = field(default_factory=TurnAttachments)

    @property
    def refs(self) -> list[AttachmentRef]:
        """As the question's entry keeps them (messages.extra on record)."""
        return [AttachmentRef.of(info) for info in self.attached]

    @property
    def ids(self) -> list[str]:
        return [info.id for info in self.attached]

    @property
    def images(self) -> list[AttachmentInfo]:
        return [info for info in self.attached if info.kind == "image"]


def _refs(entry: dict) -> list[dict]:
    refs = entry.get("attachments") if entry.get("role") == "user" else None
    return [ref for ref in refs or [] if isinstance(ref, dict) and isinstance(ref.get("id"), str)]


def turn_files(
    store,
    owner: str,
    ids: list[str],
    *,
    history: list[dict],
    conversation_id: str | None,
    on_record: bool,
    model: str,
) -> TurnFiles:
    """The turn's attachments for `owner`. Raises AttachmentError("missing") for an id of the
    question that is not the owner's (or has expired).

    The documents are the conversation's: with records on (`on_record`) every one on record
    in it, else those named by the history's entries (the browser's copy); and the question's.
    """
    attached = store.resolve(owner, ids, conversation_id) if ids else []
    parts: dict[str, dict | None] = {}  # an image's part, made once per turn

    def image_part(attachment_id: str) -> dict | None:
        if attachment_id not in parts:
            info = store.get(owner, attachment_id)
            parts[attachment_id] = (
                store.model_part(owner, attachment_id)
                if info is not None and info.kind == "image"
                else None
            )
        return parts[attachment_id]

    def earlier_images(entry: dict) -> list[dict]:
        found = (image_part(ref["id"]) for ref in _refs(entry) if ref.get("kind") == "image")
        return [part for part in found if part is not None]

    documents: dict[str, AttachmentInfo] = {}
    if on_record and conversation_id:
        try:
            on_file = store.for_conversation(owner, conversation_id, kind="document")
        except Exception:
            # The records cannot be read now: the question still goes, without them.
            log.exception("could not read the conversation's documents")
            on_file = []
        for info in on_file:
            documents[info.id] = info
    elif not on_record:
        for entry in history:
            for ref in _refs(entry):
                if ref.get("kind") == "document" and ref["id"] not in documents:
                    info = store.get(owner, ref["id"])
                    if info is not None and info.kind == "document":
                        documents[info.id] = info
    for info in attached:
        if info.kind == "document":
            documents[info.id] = info

    def document_text(question: str, budget: int) -> str:
        from services.attachments.context import document_context

        with store.connection() as connection:
            return document_context(
                connection, list(documents.values()), question, budget=budget, model=model
            )

    images = tuple(part for info in attached if (part := image_part(info.id)) is not None)
    plan = TurnAttachments(
        images=images,
        earlier_images=earlier_images,
        documents=document_text if documents else None,
    )
    return TurnFiles(attached=attached, plan=plan)
