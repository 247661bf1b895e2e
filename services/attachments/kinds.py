"""Which files may be attached, told by their bytes (never by their name), and safe names.

A file's name only says what its owner claims; the bytes decide. A name that claims another
kind than the bytes are (an `.exe` renamed `.png`) is refused as a mismatch, so nothing is
ever stored or served under a type it is not. SVG is refused outright: it is XML that can carry
script, and the page has no need to show a vector image.
"""

from __future__ import annotations

import io
import posixpath
import unicodedata
import zipfile
from dataclasses import dataclass
from typing import Literal

import filetype

from services.attachments.errors import AttachmentError

KINDS = ("image", "pdf", "docx", "xlsx", "csv", "txt", "md")
DOCUMENT_KINDS = frozenset(KINDS) - {"image"}
TEXT_KINDS = ("txt", "md", "csv")

# The type each kind is stored and served as (images: the format the bytes are in).
IMAGE_MIMES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
MIMES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
    "txt": "text/plain",
    "md": "text/markdown",
}
# What a name's extension claims (a name with no known extension claims nothing).
EXTENSIONS = {
    **dict.fromkeys(
        ("png", "jpg", "jpeg", "jpe", "jfif", "webp", "gif", "heic", "heif", "bmp", "tif"),
        "image",
    ),
    "pdf": "pdf",
    "docx": "docx",
    "xlsx": "xlsx",
    "csv": "csv",
    "txt": "txt",
    "text": "txt",
    "log": "txt",
    "md": "md",
    "markdown": "md",
}
# How much of a file's start is read to tell SVG (an XML prolog and comments come first).
SVG_PROBE = 4096
MAX_NAME = 255
# Extensions kept whole when a long name is cut (longer ones are just part of the name).
MAX_EXTENSION = 16


@dataclass(frozen=True)
class Sniffed:
    """What a file's bytes are: its kind (one of KINDS), its mime type, image or document."""

    kind: str
    mime: str
    family: Literal["image", "document"]


def allowed_kinds(settings) -> set[str]:
    """The kinds ATTACHMENT_TYPES allows (unknown words are ignored)."""
    words = {word.strip().lower() for word in settings.attachment_types.split(",")}
    return {kind for kind in KINDS if kind in words}


# For the page's file chooser (`<input type=file accept=...>`): what each kind is named as.
ACCEPT = {
    "image": (*sorted(IMAGE_MIMES), ".png", ".jpg", ".jpeg", ".webp", ".gif"),
    "pdf": (".pdf", "application/pdf"),
    "docx": (".docx",),
    "xlsx": (".xlsx",),
    "csv": (".csv", "text/csv"),
    "txt": (".txt", "text/plain"),
    "md": (".md", ".markdown"),
}


def accept_attribute(kinds: set[str]) -> str:
    """The file chooser's `accept` for these kinds (a hint only: the server checks bytes)."""
    return ",".join(item for kind in KINDS if kind in kinds for item in ACCEPT[kind])


def _extension(name: str) -> str:
    stem, dot, extension = name.rpartition(".")
    return extension.lower() if dot and stem else ""


def _is_svg(data: bytes, extension: str) -> bool:
    if extension in ("svg", "svgz"):
        return True
    head = data[:SVG_PROBE].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<?xml", b"<svg", b"<!doctype svg", b"<!--")) and b"<svg" in head


def _office_kind(data: bytes) -> str | None:
    """docx or xlsx for an Office Open XML zip, None for any other zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return None
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    return None


def _is_text(data: bytes) -> bool:
    """Text a reader can decode: UTF-8 (with or without a BOM) or GB18030, and no NUL byte
    (which no text file has and nearly every binary one does)."""
    if b"\x00" in data:
        return False
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return True
    return False


def _by_bytes(data: bytes, extension: str) -> Sniffed | None:
    guess = filetype.guess(data)
    mime = guess.mime if guess else None
    if mime in IMAGE_MIMES:
        return Sniffed("image", mime, "image")
    if mime == "application/pdf":
        return Sniffed("pdf", mime, "document")
    if data.startswith(b"PK\x03\x04"):
        kind = _office_kind(data)
        return Sniffed(kind, MIMES[kind], "document") if kind else None
    if guess is None and _is_text(data):
        # Text kinds cannot be told apart by their bytes: the name says which.
        kind = EXTENSIONS.get(extension)
        kind = kind if kind in TEXT_KINDS else "txt"
        return Sniffed(kind, MIMES[kind], "document")
    return None


def sniff(data: bytes, name: str) -> Sniffed:
    """What `data` is, checked against what `name` claims. Raises AttachmentError: "empty",
    "svg", "mismatch" (the name claims another kind), "unsupported" (no kind we take)."""
    if not data:
        raise AttachmentError("empty")
    extension = _extension(name)
    if _is_svg(data, extension):
        raise AttachmentError("svg")
    found = _by_bytes(data, extension)
    claimed = EXTENSIONS.get(extension)
    if found is None:
        if claimed is not None:
            raise AttachmentError("mismatch", name=safe_name(name))
        raise AttachmentError("unsupported", allowed=", ".join(KINDS))
    # (A text file's kind was taken from its name, so it always agrees.)
    if claimed is not None and claimed != found.kind:
        raise AttachmentError("mismatch", name=safe_name(name))
    return found


def safe_name(name: str) -> str:
    """The file's own name, safe to store and to show as text: no folders (`../`, `C:\\`),
    no control or direction-changing characters, at most MAX_NAME characters (the extension
    kept), "file" when nothing is left."""
    name = posixpath.basename(name.replace("\\", "/"))
    # Cc: controls (newlines break headers and logs); Cf: format characters such as U+202E,
    # which shows "photo\u202egnp.exe" as "photoexe.png".
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf"))
    name = name.strip().rstrip(". ")
    if name in ("", ".", ".."):
        return "file"
    if len(name) > MAX_NAME:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and len(extension) <= MAX_EXTENSION:
            name = stem[: MAX_NAME - len(extension) - 1].rstrip() + "." + extension
        else:
            name = name[:MAX_NAME]
    return name
