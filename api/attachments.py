"""Attachments over HTTP (issue 18): upload one file, fetch it back, drop a pending one.

- `POST /api/attachments` (multipart/form-data, field `file`): 201 with the AttachmentInfo
  (plus `thumbnail`, a URL, for an image), or a refusal `{"error": {"type": <code>, ...}}`
  whose type is an `attach.error.<code>` of i18n: 413 `too_large` (read no further than the
  limit), 400 `cut` for an upload that ended early; nothing is stored for either.
- `GET /api/attachments/<id>`: the file as uploaded, always as a download
  (`Content-Disposition: attachment`), with the type its bytes were found to be (never SVG or
  HTML), `nosniff` and a sandboxing CSP, so no upload can ever run as a page of this site.
- `GET /api/attachments/<id>/thumbnail`: an image's small WebP, shown inline in the thread.
- `DELETE /api/attachments/<id>`: a pending one (not yet sent), the chip's ×.

Only the owner (current_identity(): the browser's cookie identity, or the signed-in user) gets
anything: another identity's id and an id that does not exist answer the same 404. Cross-site
POST/DELETE are refused and sign-in is required like every /api route (api/security.py,
api/auth.py).
"""

from __future__ import annotations

import io
import logging

from flask import Blueprint, g, jsonify, request, send_file, url_for
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import ClientDisconnected
from werkzeug.formparser import FormDataParser

from api.identity import current_identity
from api.responses import error_response
from api.running import NO_STORE
from extensions import attachments
from services.attachments.kinds import AttachmentError

log = logging.getLogger(__name__)

attachments_bp = Blueprint("attachments", __name__)

# What multipart adds around a file (boundaries, part headers, a long file name).
MULTIPART_OVERHEAD = 64 * 1024
CHUNK = 64 * 1024
# An attachment's bytes never change: the browser may keep them (for this user only).
CACHE = "private, max-age=3600"
# A served file is a document of its own to the browser; sandboxed, it can run nothing.
FILE_POLICY = "sandbox; default-src 'none'"


def _refusal(error: AttachmentError):
    return error_response(error.status, error.code, error.message, fields={"params": error.params})


def _not_found():
    # The same for another owner's id, an unknown one and a malformed one.
    return error_response(404, "not_found", "No such attachment.")


def _read_body(limit: int) -> bytes:
    """The request body, read in chunks and never past `limit`. Raises AttachmentError:
    "too_large", or "cut" when the client stopped before Content-Length bytes."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise AttachmentError("too_large")
    chunks = []
    total = 0
    try:
        while chunk := request.stream.read(CHUNK):
            total += len(chunk)
            if total > limit:
                raise AttachmentError("too_large")
            chunks.append(chunk)
    except ClientDisconnected:
        raise AttachmentError("cut") from None
    if declared is not None and total < declared:
        raise AttachmentError("cut")
    return b"".join(chunks)


def _read_upload(max_bytes: int) -> tuple[str, bytes]:
    """The uploaded file's name and bytes. Raises AttachmentError."""
    body = _read_body(max_bytes + MULTIPART_OVERHEAD)
    # Not MULTIPART_OVERHEAD: werkzeug also holds a file's bytes to this limit while it looks
    # for the next boundary, and a photo's bytes can go 64 kB with no line break (a 5 MB
    # JPEG was refused with 413). The body is capped above already.
    parser = FormDataParser(silent=False, max_form_memory_size=len(body) + 1)
    try:
        _, _, files = parser.parse(
            io.BytesIO(body), request.mimetype, len(body), request.mimetype_params
        )
    except ValueError:
        # A multipart body without its closing boundary: the upload stopped half-way.
        raise AttachmentError("cut") from None
    upload = files.get("file")
    if upload is None:
        raise AttachmentError("empty")
    data = upload.read(max_bytes + 1)
    return upload.filename or "", data


@attachments_bp.post("/api/attachments")
def upload():
    """Store one uploaded file for the caller (pending until a question sends it)."""
    store = attachments()
    if store is None:
        return error_response(404, "not_found", "Attachments are turned off on this server.")
    if request.mimetype != "multipart/form-data":
        return error_response(
            400, "invalid_request", "Send multipart/form-data with the file in the field `file`."
        )
    try:
        name, data = _read_upload(store.max_bytes)
        info = store.add(current_identity(), name, data)
    except AttachmentError as error:
        if error.code == "too_large":
            error.params.setdefault("limit_mb", f"{store.settings.max_attachment_mb:g}")
        return _refusal(error)
    except (SQLAlchemyError, OSError) as error:
        log.error("an attachment could not be stored: %s", type(error).__name__, exc_info=error)
        return error_response(
            503, "unavailable", "Attachments cannot be stored right now. Try again later."
        )
    body = info.model_dump()
    if info.kind == "image":
        body["thumbnail"] = url_for("attachments.thumbnail", attachment_id=info.id)
    return jsonify(body), 201, NO_STORE


def _serve(attachment_id: str, variant: str):
    store = attachments()
    owner = current_identity()
    info = store.get(owner, attachment_id) if store else None
    opened = store.open_file(owner, attachment_id, variant) if info else None
    if opened is None:
        return _not_found()
    path, mime = opened
    original = variant == "original"
    try:
        response = send_file(
            path,
            mimetype=mime,
            as_attachment=original,
            download_name=info.name if original else f"{info.id}.webp",
            conditional=True,
            etag=True,
        )
    except FileNotFoundError:  # deleted with its conversation a moment ago
        return _not_found()
    response.headers["Cache-Control"] = CACHE
    response.headers["X-Content-Type-Options"] = "nosniff"
    g.content_security_policy = FILE_POLICY  # api/security.py puts it on the response
    return response


@attachments_bp.get("/api/attachments/<attachment_id>")
def original(attachment_id: str):
    """The file as uploaded, as a download."""
    return _serve(attachment_id, "original")


@attachments_bp.get("/api/attachments/<attachment_id>/thumbnail")
def thumbnail(attachment_id: str):
    """An image's thumbnail (WebP), inline."""
    return _serve(attachment_id, "thumb")


@attachments_bp.delete("/api/attachments/<attachment_id>")
def remove(attachment_id: str):
    """Drop the caller's pending attachment (one already sent stays with its conversation)."""
    store = attachments()
    if store is None or not store.delete_pending(current_identity(), attachment_id):
        return _not_found()
    return "", 204, NO_STORE
