"""POST /api/chat/stream (SSE), POST /api/chat (JSON) and GET /healthz."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from flask import Blueprint, Response, jsonify, request
from markupsafe import escape

from api import sse
from api.identity import current_identity
from api.limits import TooManyStreams, open_stream_slot
from api.recording import record_question, recorded, store_result
from api.responses import error_response
from api.schemas import MAX_BODY_BYTES, BadRequest, ChatRequest, parse_chat_request
from extensions import chat_service, records
from services.chat import ChatService, Sampling
from services.check import check_providers
from services.conversation import record_result, result_from_event
from services.errors import ChatError
from services.plan import context_tokens, plan_turn

log = logging.getLogger(__name__)

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


@dataclass
class Prepared:
    """What one request sends upstream, and where its reply is recorded."""

    messages: list[dict]
    model: str
    sampling: Sampling
    # (store, owner, conversation id) when the reply goes on record.
    target: tuple | None = None
    # The page's turns only: how the turn was planned, for the page (in the final event).
    announce: dict | None = None
    # The page's turns only: `context_tokens` for the final event (see services/plan.py).
    next_context: Callable[[str, dict], int] | None = None


def _prepare(service: ChatService, chat_request: ChatRequest) -> Prepared:
    """Raises LookupError for a conversation that is not the caller's (or does not exist).

    The answer is the same for both, so ids cannot be probed. The page's turns never fail so:
    an unknown conversation (deleted in another tab) gets a new record.
    """
    if chat_request.turn is not None:
        return _prepare_turn(service, chat_request)
    sampling = Sampling(
        temperature=chat_request.temperature,
        top_p=chat_request.top_p,
        max_tokens=chat_request.max_tokens,
    )
    # The service enforces the persona lock and fits them to the model's context window.
    messages = [m.model_dump() for m in chat_request.messages]
    model = chat_request.model or service.default_model
    store = records()
    if store is None or not chat_request.conversation_id:
        return Prepared(messages, model, sampling)
    owner = current_identity()
    if store.conversation(owner, chat_request.conversation_id) is None:
        raise LookupError(chat_request.conversation_id)
    return Prepared(messages, model, sampling, (store, owner, chat_request.conversation_id))


def _prepare_turn(service: ChatService, chat_request: ChatRequest) -> Prepared:
    """The page's turn: plan the messages from its thread, and record the question."""
    turn = chat_request.turn
    history = [entry.model_dump() for entry in turn.history]
    choices = {
        "model": chat_request.model,
        "persona_id": turn.persona,
        "custom_prompt": turn.custom_prompt,
        "lang": chat_request.lang,
        "max_tokens": chat_request.max_tokens,
    }
    plan = plan_turn(
        service,
        history,
        turn.question,
        history_start=turn.history_start,
        multi_turn=turn.multi_turn,
        **choices,
    )
    temperature = chat_request.temperature
    if temperature is None:
        temperature = plan.temperature  # the persona's own
    sampling = Sampling(temperature, chat_request.top_p, chat_request.max_tokens)
    asked = {"role": "user", "content": turn.question}
    if plan.context_from:
        asked["context_from"] = plan.context_from
    store, owner = records(), current_identity()
    conversation_id = record_question(
        store,
        owner,
        chat_request.conversation_id,
        asked,
        model=plan.model,
        persona=turn.persona,
        retry=turn.retry,
    )

    def next_context(reply: str, final: dict) -> int:
        # What the page keeps of this turn (a cut reply's text too), as its context will be.
        ended = record_result([], result_from_event(final, reply), model=plan.model)
        return context_tokens(service, [*history, asked, *ended], **choices, multi_turn=True)

    return Prepared(
        plan.messages,
        plan.model,
        sampling,
        target=(store, owner, conversation_id) if store is not None else None,
        announce={
            "conversation_id": conversation_id,
            "context_from": plan.context_from,
            "model": plan.model,
        },
        next_context=next_context,
    )


def _bad_request(exc: BadRequest):
    return error_response(400, "invalid_request", exc.message)


def _unknown_conversation():
    return error_response(404, "not_found", "Unknown conversation.")


@bp.post("/api/chat/stream")
def chat_stream():
    """Stream one reply as SSE; the last event is `done` or `error`.

    The final event of a page turn (`turn` in the body) also says how the turn was planned:
    `{"turn": {"conversation_id", "context_from", "model"}, "context_tokens": ...}`.
    """
    service = chat_service()
    try:
        chat_request = _read_request(service)
        prepared = _prepare(service, chat_request)
    except BadRequest as exc:
        return _bad_request(exc)
    except LookupError:
        return _unknown_conversation()
    try:
        release_slot = open_stream_slot()
    except TooManyStreams as exc:
        return exc.response()
    events = service.stream(
        prepared.messages,
        model=prepared.model,
        sampling=prepared.sampling,
        lang=chat_request.lang,
    )
    if prepared.target:
        events = recorded(events, *prepared.target, prepared.model)
    if prepared.announce:
        events = _page_turn_end(events, prepared.announce, prepared.next_context)
    body = sse.event_stream(
        events,
        snapshots=chat_request.snapshots,
        client_gone=sse.disconnect_probe(request.environ),
    )
    if prepared.announce:
        body = sse.opened(body)
    response = Response(body, mimetype="text/event-stream", headers=SSE_HEADERS)
    if release_slot:
        # Called when the server is done with the response: finished, failed or abandoned.
        response.call_on_close(release_slot)
    return response


def _page_turn_end(events, announce: dict, count: Callable[[str, dict], int]) -> Iterator[dict]:
    """The final event of a page turn also carries `turn` (how it was planned) and
    `context_tokens` (the next request's context, for the page's size estimate).

    At the end, not first: an event of its own would cost the page a render before the first
    token, and the page knows what it needs earlier (it names new conversations itself).
    """
    parts: list[str] = []
    source = iter(events)
    try:
        for event in source:
            if "delta" in event:
                parts.append(event["delta"])
                yield event
                continue
            event = {**event, "turn": announce}
            try:
                event["context_tokens"] = count("".join(parts), event)
            except Exception:
                log.exception("could not count the next request's context")
            yield event
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


@bp.post("/api/chat")
def chat_once():
    """Answer with the whole reply in one JSON object."""
    service = chat_service()
    try:
        chat_request = _read_request(service)
        prepared = _prepare(service, chat_request)
    except BadRequest as exc:
        return _bad_request(exc)
    except LookupError:
        return _unknown_conversation()
    try:
        answer = service.complete(
            prepared.messages,
            model=prepared.model,
            sampling=prepared.sampling,
            lang=chat_request.lang,
        )
    except ChatError as exc:
        if prepared.target:
            result = {"status": "error", "content": "", "error": exc.to_dict()}
            store_result(*prepared.target, prepared.model, result)
        return jsonify(error=exc.to_dict()), exc.status
    if prepared.target:
        final = {"done": True, **answer}
        result = result_from_event(final, answer["reply"])
        store_result(*prepared.target, answer["model"], result)
    if prepared.announce:
        answer = {**answer, "turn": prepared.announce}
    return jsonify(answer)


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
