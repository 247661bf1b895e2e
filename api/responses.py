"""Refusals (401, 403, 429) in the form the caller can read.

The page's stream is `FefferyPostEventSource` (fetch-event-source underneath): it hands the page
nothing of a response that is not `text/event-stream`, neither its status nor its body. So a
caller that accepts only SSE gets the refusal as one SSE error event, with the real status code
and headers still on the response; every other caller gets the usual JSON error object.
"""

from __future__ import annotations

import math

from flask import Response, jsonify, request

from api.sse import encode


def wants_event_stream() -> bool:
    """True for a client that asked for SSE and not JSON (the page's stream does)."""
    accept = request.accept_mimetypes
    return accept.best == "text/event-stream" or (
        "text/event-stream" in accept and not accept.accept_json
    )


def error_response(
    status: int,
    kind: str,
    message: str,
    *,
    retry_after: float | None = None,
    headers: dict[str, str] | None = None,
    fields: dict | None = None,
) -> Response:
    """`{"error": {"type", "message"[, "retry_after"]}}` with `status`, as JSON or one SSE event.

    `retry_after` (seconds) is also sent as the `Retry-After` header, rounded up. `fields` go
    into the error object too (a quota refusal's budget and reset time).
    """
    error: dict = {"type": kind, "message": message, **(fields or {})}
    extra = dict(headers or {})
    if retry_after is not None:
        seconds = max(1, math.ceil(retry_after))
        error["retry_after"] = seconds
        extra["Retry-After"] = str(seconds)
    if wants_event_stream():
        body = encode({"error": error, "content": ""})
        response = Response(body, status=status, mimetype="text/event-stream")
    else:
        response = jsonify(error=error)
        response.status_code = status
    response.headers.update(extra)
    response.headers["Cache-Control"] = "no-store"
    return response
