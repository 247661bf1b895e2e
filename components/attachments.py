"""Attachments in the page (issue 18): what the composer's script needs to check a file before
it uploads it (assets/attach.js), and a question's attachments as the thread draws them.

Names are the user's, shown as text only (React escapes them); the files are served only by
api/attachments.py, to the identity that owns them.
"""

from __future__ import annotations

from dataclasses import dataclass

from dash import get_relative_path, html
from pydantic import ValidationError

import i18n
from i18n import t
from services.attachments.errors import MESSAGES
from services.attachments.kinds import allowed_kinds
from services.attachments.models import AttachmentRef
from services.attachments.store import max_bytes

# The file names' endings each kind of attachment may have (the server tells a file's kind by
# its bytes; the page only refuses early what the server would refuse anyway).
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "image": (".png", ".jpg", ".jpeg", ".webp", ".gif"),
    "pdf": (".pdf",),
    "docx": (".docx",),
    "xlsx": (".xlsx",),
    "csv": (".csv",),
    "txt": (".txt",),
    "md": (".md", ".markdown"),
}
# Pasted screenshots may come without a usable name: their type says.
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")
MB = 1024 * 1024


@dataclass(frozen=True)
class AttachOptions:
    """The server's limits on attachments (MAX_ATTACHMENTS, MAX_ATTACHMENT_MB,
    ATTACHMENT_TYPES)."""

    max_count: int
    max_bytes: int
    kinds: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings) -> AttachOptions | None:
        """None when attachments are off (MAX_ATTACHMENTS=0)."""
        if not settings.max_attachments:
            return None
        wanted = allowed_kinds(settings)
        kinds = tuple(kind for kind in EXTENSIONS if kind in wanted)
        return cls(max_count=settings.max_attachments, max_bytes=max_bytes(settings), kinds=kinds)

    def accept(self) -> str:
        """The file chooser's `accept`: the allowed endings (and image types)."""
        endings = [ending for kind in self.kinds for ending in EXTENSIONS[kind]]
        return ",".join(endings + (list(IMAGE_TYPES) if "image" in self.kinds else []))


# The server's reasons (services/attachments/errors.py), worded by the keys
# `attach.error.<code>`; "unavailable" is the upload route's 503 (api/attachments.py).
ERROR_CODES = (*MESSAGES, "unavailable")
# What the page itself says, by name in page.attach.words (assets/attach.js).
WORDS = {
    "button": "attach.button",
    "remove": "attach.remove",
    "uploading": "attach.uploading",
    "failed": "attach.failed",
    "failedAgain": "attach.failed_again",
    "tooMany": "attach.refused.too_many",
    "tooLarge": "attach.refused.too_large",
    "type": "attach.refused.type",
    "svg": "attach.refused.svg",
    "empty": "attach.refused.empty",
    "noVision": "attach.refused.no_vision",
    "unsent": "attach.refused.unsent",
    "noted": "attach.noted",
}


def attach_config(options: AttachOptions, *, lang: str, records: bool) -> dict:
    """page.attach: the limits, the endings of each allowed kind, and the words."""
    errors = {
        code: t(lang, f"attach.error.{code}")
        for code in ERROR_CODES
        if i18n.has(f"attach.error.{code}")
    }
    return {
        "url": get_relative_path("/api/attachments"),
        "maxCount": options.max_count,
        "maxBytes": options.max_bytes,
        "kinds": list(options.kinds),
        "extensions": {ending: kind for kind, endings in EXTENSIONS.items() for ending in endings},
        "imageTypes": list(IMAGE_TYPES),
        "accept": options.accept(),
        "typeNames": t(lang, "attach.kind.separator").join(
            t(lang, f"attach.kind.{kind}") for kind in options.kinds
        ),
        "words": {name: t(lang, key) for name, key in WORDS.items()},
        "errors": errors,
        # Records off: a plain hint under the chips that they last only until a reload.
        "recordsOff": not records,
    }


def human_size(size: int) -> str:
    """A file's size as people read it: 512 B, 34 KB, 2.4 MB (as assets/attach.js says it)."""
    if size < 1024:
        return f"{size} B"
    if size < MB:
        return f"{round(size / 1024)} KB"
    return f"{size / MB:.1f} MB"


ATTACHMENTS_CLASS = "chat-attachments"


def attachment_url(attachment_id: str, *, thumbnail: bool = False) -> str:
    """Where api/attachments.py serves it (the original, or an image's thumbnail)."""
    path = f"/api/attachments/{attachment_id}" + ("/thumbnail" if thumbnail else "")
    return get_relative_path(path)


def attachment_list(refs: object, *, lang: str) -> html.Div | None:
    """A question's attachments (its entry's `attachments`): images as thumbnails, documents
    as a chip with their name and size; each a link to download the original. Refs that do
    not parse are left out (a stored entry from elsewhere)."""
    shown = []
    for raw in refs if isinstance(refs, list) else []:
        try:
            ref = AttachmentRef.model_validate(raw)
        except ValidationError:
            continue
        url = attachment_url(ref.id)
        if ref.kind == "image":
            inside = [html.Img(src=attachment_url(ref.id, thumbnail=True), alt=ref.name)]
            kind_class = "chat-attachment-image"
        else:
            inside = [
                html.Span(className="chat-attachment-icon"),
                html.Span(ref.name, className="chat-attachment-name"),
                html.Span(human_size(ref.size), className="chat-attachment-size"),
            ]
            kind_class = "chat-attachment-doc"
        label = t(lang, "attach.download", name=ref.name)
        shown.append(
            html.A(
                inside,
                href=url,
                download=ref.name,
                title=label,
                className=f"chat-attachment {kind_class}",
            )
        )
    return html.Div(shown, className=ATTACHMENTS_CLASS) if shown else None
