"""What the server tells about an attachment (the upload's answer, a question's entry)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AttachmentInfo(BaseModel):
    """One stored attachment, as the page and the API see it. Never holds its bytes."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(pattern=r"^[0-9a-f]{32}$")
    name: str = Field(max_length=255)
    kind: Literal["image", "document"]
    mime: str = Field(max_length=100)
    size: int = Field(ge=0)
    width: int | None = None
    height: int | None = None
    tokens: int | None = None
    pages: int | None = None
    # e.g. "no_text": a scanned PDF with no text layer (said plainly in the page).
    note: str | None = None


class AttachmentRef(BaseModel):
    """An attachment as a question's entry keeps it (messages.extra["attachments"]): enough to
    draw it in the thread and list it in an export, and its id to fetch the rest."""

    model_config = ConfigDict(extra="ignore", strict=True)

    id: str = Field(pattern=r"^[0-9a-f]{32}$")
    name: str = Field(default="", max_length=255)
    kind: Literal["image", "document"] = "document"
    mime: str = Field(default="", max_length=100)
    size: int = Field(default=0, ge=0)

    @classmethod
    def of(cls, info: AttachmentInfo) -> AttachmentRef:
        return cls(id=info.id, name=info.name, kind=info.kind, mime=info.mime, size=info.size)
