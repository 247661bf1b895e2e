"""POST /api/chat/stream (SSE), POST /api/chat (JSON) and GET /healthz."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from markupsafe import escape

from api import sse
from api.identity import current_identity
from api.limits import TooManyStreams, open_stream_slot
from api.recording import recorded, store_result
from api.responses import error_response
from api.schemas import MAX_BODY_BYTES, BadRequest, ChatRequest, parse_chat_request
from extensions import chat_service, records
from services.chat import ChatService, Sampling
from services.check import check_providers
from services.conversation import result_from_event
from services.errors import ChatError

bp = Blueprint("chat_api", __name__)

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    # nginx (and Render's proxy) would otherwise buffer the stream and deliver it all at once.
    "X-Accel-Buffering": "no",
}


def _read_request(service: ChatService) -> ChatRequest:
    # Read at most one byte past the limit, so a huge body is refused without buffering it.
    raw = request.stream.read(MAX_BODY_BYTES + 1)
    return parse_chat_request(
        raw,
        request.content_type,
        max_input_chars=service.settings.max_input_chars,
        models=service.models,
        max_reply_tokens=service.settings.max_reply_tokens,
    )


def _sampling(chat_request: ChatRequest) -> Sampling:
    return Sampling(
        temperature=chat_request.temperature,
        top_p=chat_request.top_p,
        max_tokens=chat_request.max_tokens,
    )


def _messages(chat_request: ChatRequest) -> list[dict]:
    # The service enforces the persona lock and fits them to the model's context window.
    return [m.model_dump() for m in chat_request.messages]


def _bad_request(exc: BadRequest):
    return error_response(400, "invalid_request", exc.message)


def _record_target(chat_request: ChatRequest):
    """(store, owner) when the reply belongs to one of the caller's records, else None.

    Raises LookupError for a conversation that is not the caller's (or does not exist): the
    answer is the same for both, so ids cannot be probed.
    """
    store = records()
    if store is None or not chat_request.conversation_id:
        return None
    owner = current_identity()
    if store.conversation(owner, chat_request.conversation_id) is None:
        raise LookupError(chat_request.conversation_id)
    return store, owner


def _unknown_conversation():
    return error_response(404, "not_found", "Unknown conversation.")


@bp.post("/api/chat/stream")
def chat_stream():
    """Stream one reply as SSE; the last event is `done` or `error`."""
    service = chat_service()
    try:
        chat_request = _read_request(service)
        target = _record_target(chat_request)
    except BadRequest as exc:
        return _bad_request(exc)
    except LookupError:
        return _unknown_conversation()
    try:
        release_slot = open_stream_slot()
    except TooManyStreams as exc:
        return exc.response()
    events = service.stream(
        _messages(chat_request),
        model=chat_request.model,
        sampling=_sampling(chat_request),
        lang=chat_request.lang,
    )
    if target:
        events = recorded(events, *target, chat_request.conversation_id, answer_model(chat_request))
    body = sse.event_stream(
        events,
        snapshots=chat_request.snapshots,
        client_gone=sse.disconnect_probe(request.environ),
    )
    response = Response(body, mimetype="text/event-stream", headers=SSE_HEADERS)
    if release_slot:
        # Called when the server is done with the response: finished, failed or abandoned.
        response.call_on_close(release_slot)
    return response


@bp.post("/api/chat")
def chat_once():
    """Answer with the whole reply in one JSON object."""
    service = chat_service()
    try:
        chat_request = _read_request(service)
        target = _record_target(chat_request)
    except BadRequest as exc:
        return _bad_request(exc)
    except LookupError:
        return _unknown_conversation()
    try:
        answer = service.complete(
            _messages(chat_request),
            model=chat_request.model,
            sampling=_sampling(chat_request),
            lang=chat_request.lang,
        )
    except ChatError as exc:
        if target:
            result = {"status": "error", "content": "", "error": exc.to_dict()}
            store_result(*target, chat_request.conversation_id, answer_model(chat_request), result)
        return jsonify(error=exc.to_dict()), exc.status
    if target:
        final = {"done": True, **answer}
        result = result_from_event(final, answer["reply"])
        store_result(*target, chat_request.conversation_id, answer["model"], result)
    return jsonify(answer)


def answer_model(chat_request: ChatRequest) -> str:
    return chat_request.model or chat_service().default_model


@bp.get("/api/providers/check")
def providers_check():
    """Ask every provider for one token: OK, or exactly what is wrong (keys never shown)."""
    return jsonify(providers=check_providers(chat_service()))


@bp.get("/blocked-link")
def blocked_link():
    """Where a reply's non-web links (`javascript:`, `data:` ...) lead instead (see markdown)."""
    target = request.args.get("to", "")[:500]
    body = (
        "<!doctype html><meta charset='utf-8'><title>Link blocked</title>"
        "<p>This link from the assistant's reply was blocked because it is not a web "
        f"address:</p><pre>{escape(target)}</pre>"
    )
    return Response(body, mimetype="text/html", headers={"Cache-Control": "no-store"})


@bp.get("/healthz")
def healthz():
    """Liveness for Render and load balancers: the process serves requests."""
    return jsonify(status="ok")
