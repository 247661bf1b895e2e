"""POST /api/chat/stream (SSE), POST /api/chat (JSON) and GET /healthz."""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, replace

from flask import Blueprint, Response, jsonify, request
from markupsafe import escape

from api import sse, usage
from api.auth import visitor_lang
from api.identity import current_identity
from api.limits import TooManyStreams, budget_refusal, open_stream_slot, spend_budget
from api.page_turn import PageTurnStream
from api.responses import error_response
from api.schemas import BadRequest, ChatRequest, body_limit, parse_chat_request
from components.theme import boot_tag
from extensions import attachments, chat_service, journal, records
from i18n import html_lang, t
from services.attachments.errors import AttachmentError
from services.attachments.images import data_url, prepare_image
from services.attachments.kinds import sniff
from services.attachments.turn import TurnFiles, turn_files
from services.chat import ChatService, Sampling
from services.check import check_providers
from services.conversation import record_result, result_from_event
from services.errors import ChatError
from services.fixed_persona import PersonaChanged, PersonaChoice, turn_persona
from services.metering import DaySpent
from services.plan import Plan, plan_turn
from services.recording import recorded, store_result

log = logging.getLogger(__name__)

bp = Blueprint("chat_api", __name__)

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    # nginx (and Render's proxy) would otherwise buffer the stream and deliver it all at once.
    "X-Accel-Buffering": "no",
}


def _read_request(service: ChatService) -> ChatRequest:
    settings = service.settings
    # Read at most one byte past the limit, so a huge body is refused without buffering it
    # (the limit has room for images only when attachments are on: api/schemas.py).
    limit = body_limit(settings.max_attachments, settings.max_attachment_mb)
    raw = request.stream.read(limit + 1)
    return parse_chat_request(
        raw,
        request.content_type,
        max_input_chars=settings.max_input_chars,
        models=service.models,
        max_reply_tokens=settings.max_reply_tokens,
        max_attachments=settings.max_attachments,
        max_attachment_mb=settings.max_attachment_mb,
    )


def _no_vision(service: ChatService, model: str | None) -> AttachmentError:
    model = model if model in service.models else service.default_model
    return AttachmentError("no_vision", model=model)


def _prepared_images(messages: list[dict]) -> list[dict]:
    """`messages` with each image made ready for the model, as an upload's is: its bytes
    checked to be an image, turned upright, EXIF (GPS included) dropped, resized
    (services/attachments/images.py). Raises AttachmentError."""
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            message = {**message, "content": [_prepared_part(part) for part in content]}
        out.append(message)
    return out


def _prepared_part(part: dict) -> dict:
    if part.get("type") != "image_url":
        return part
    image = part["image_url"]
    head, _, encoded = image["url"].partition(",")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise AttachmentError("corrupt") from None
    # The URL's type names what the bytes must be ("image.png"): sniff says if they are.
    name = "image." + head[5:].partition(";")[0].rpartition("/")[2].lower()
    if sniff(data, name).family != "image":
        raise AttachmentError("mismatch", name=name)
    prepared = prepare_image(data)
    url = data_url(prepared.data, prepared.mime)
    return {"type": "image_url", "image_url": {**image, "url": url}}


@dataclass
class Prepared:
    """What one scripted request sends upstream, and where its reply is recorded."""

    messages: list[dict]
    model: str
    sampling: Sampling
    # (store, owner, conversation id) when the reply goes on record.
    target: tuple | None = None


def _prepare(service: ChatService, chat_request: ChatRequest) -> Prepared:
    """A request in the `messages` form. Raises LookupError for a conversation that is not the
    caller's (or does not exist): the answer is the same for both, so ids cannot be probed.
    """
    sampling = Sampling(
        temperature=chat_request.temperature,
        top_p=chat_request.top_p,
        max_tokens=chat_request.max_tokens,
    )
    # The service enforces the persona lock and fits them to the model's context window.
    messages = [m.upstream() for m in chat_request.messages]
    model = chat_request.model or service.default_model
    if chat_request.images:
        if not service.sees_images(model):
            raise _no_vision(service, model)
        messages = _prepared_images(messages)
    store = records()
    if store is None or not chat_request.conversation_id:
        return Prepared(messages, model, sampling)
    owner = current_identity()
    if store.conversation(owner, chat_request.conversation_id) is None:
        if not getattr(store, "saving", True):
            # The records cannot be read: answer unrecorded rather than "unknown".
            return Prepared(messages, model, sampling)
        raise LookupError(chat_request.conversation_id)
    return Prepared(messages, model, sampling, (store, owner, chat_request.conversation_id))


def _meter(prepared: Prepared) -> tuple[usage.Meter | None, Prepared]:
    """What counts a scripted request's reply in `usage_events` (None with records off), and
    the request with the max_tokens the user's day leaves. Raises DaySpent."""
    conversation = prepared.target[2] if prepared.target else None
    used, max_tokens = usage.metered(
        "api",
        prepared.model,
        prepared.messages,
        max_tokens=prepared.sampling.max_tokens,
        conversation=conversation,
    )
    sampling = replace(prepared.sampling, max_tokens=max_tokens)
    return used, replace(prepared, sampling=sampling)


def _turn_persona(service: ChatService, chat_request: ChatRequest) -> tuple[PersonaChoice, bool]:
    """The persona the page's turn uses: its conversation's, when the records hold one
    (services/fixed_persona.py). Raises PersonaChanged for a request naming another one."""
    turn = chat_request.turn
    store = records()
    record = None
    if store is not None and chat_request.conversation_id:
        record = store.fixed_persona(current_identity(), chat_request.conversation_id)
    return turn_persona(service, record, turn.persona, turn.custom_prompt)


def _turn_files(service: ChatService, chat_request: ChatRequest) -> TurnFiles | None:
    """The page turn's attachments, each the caller's (None when attachments are off).
    Raises AttachmentError("missing") for one that is not, BadRequest for an image to a
    model that takes none: both before anything is recorded or sent."""
    store = attachments()  # None when MAX_ATTACHMENTS=0
    if store is None:
        return None
    turn = chat_request.turn
    model = chat_request.model if chat_request.model in service.models else service.default_model
    # The store answers for the caller's own attachments only, so another's conversation id
    # finds none of its files.
    files = turn_files(
        store,
        current_identity(),
        turn.attachments,
        history=[entry.model_dump(exclude_none=True) for entry in turn.history],
        conversation_id=chat_request.conversation_id,
        on_record=records() is not None,
        model=model,
    )
    if files.images and not service.sees_images(model):
        raise _no_vision(service, model)
    return files


def _plan_turn(
    service: ChatService,
    chat_request: ChatRequest,
    persona: PersonaChoice,
    files: TurnFiles | None = None,
) -> tuple[Plan, Sampling]:
    """The page's turn, planned once: persona, round cap, the model's window, attachments."""
    turn = chat_request.turn
    plan = plan_turn(
        service,
        [entry.model_dump(exclude_none=True) for entry in turn.history],
        turn.question,
        history_start=turn.history_start,
        multi_turn=turn.multi_turn,
        model=chat_request.model,
        persona_id=persona.persona,
        custom_prompt=persona.custom_prompt,
        lang=chat_request.lang,
        max_tokens=chat_request.max_tokens,
        attachments=files.plan if files is not None else None,
    )
    temperature = chat_request.temperature
    if temperature is None:
        temperature = plan.temperature  # the persona's own
    return plan, Sampling(temperature, chat_request.top_p, chat_request.max_tokens)


def _bad_request(exc: BadRequest):
    fields = {"params": exc.params} if exc.params else None
    return error_response(exc.status, exc.kind, exc.message, fields=fields)


def _refused_attachment(exc: AttachmentError) -> Response:
    """A refused attachment or image, in plain words, with the `params` of the page's own
    words for it (i18n `attach.error.<code>`), as api/attachments.py answers."""
    return error_response(exc.status, exc.code, exc.message, fields={"params": exc.params})


def _unknown_conversation():
    return error_response(404, "not_found", "Unknown conversation.")


@bp.post("/api/chat/stream")
def chat_stream():
    """Stream one reply as SSE; the last event is `done` or `error`.

    The page's form (`turn` in the body) also gets a first event with the conversation's id
    and a final event that says what the server decided (api/page_turn.py).
    """
    service = chat_service()
    try:
        chat_request = _read_request(service)
        prepared = persona = files = None
        if chat_request.turn is None:
            prepared = _prepare(service, chat_request)
        else:
            persona, store_persona = _turn_persona(service, chat_request)
            files = _turn_files(service, chat_request)
    except BadRequest as exc:
        return _bad_request(exc)
    except LookupError:
        return _unknown_conversation()
    except PersonaChanged as exc:
        return error_response(exc.status, exc.kind, exc.message)
    except AttachmentError as exc:
        return _refused_attachment(exc)
    # A user whose day is spent is refused before the model is asked (services/quota.py).
    refused = usage.refusal()
    if refused is not None:
        return refused
    # Nothing is recorded before a slot is taken: a refused request leaves no trace.
    try:
        release_slot = open_stream_slot()
    except TooManyStreams as exc:
        return exc.response()
    client_gone = sse.disconnect_probe(request.environ)
    try:
        # Under a daily budget, the reply's worst case is reserved here (api/usage.py).
        if prepared is None:
            plan, sampling = _plan_turn(service, chat_request, persona, files)
            used, max_tokens = usage.metered(
                "page",
                plan.model,
                plan.messages,
                max_tokens=sampling.max_tokens,
                persona=persona.persona or None,
                conversation=lambda: turn.usage_conversation(),
            )
            shrunk = max_tokens != sampling.max_tokens
            sampling = replace(sampling, max_tokens=max_tokens)
        else:
            used, prepared = _meter(prepared)
    except DaySpent as exc:
        if release_slot:
            release_slot()
        return usage.refused(exc.state)
    if prepared is None:
        turn = PageTurnStream(
            service,
            chat_request,
            plan,
            records(),
            current_identity(),
            journal(),
            persona=persona,
            store_persona=store_persona,
            files=files,
            attachment_store=attachments() if files is not None else None,
            meter=used,
        )
        source = service.stream(
            plan.fitted, model=plan.model, sampling=sampling, lang=chat_request.lang
        )
        if shrunk:
            source = usage.quota_cut(source)
        events = turn.events(source)
        body = sse.event_stream(
            events,
            coalesce=True,
            snapshots=chat_request.snapshots,
            client_gone=client_gone,
            opening=turn.opening,
            keep_going=turn.keep_going,
        )
    else:
        events = service.stream(
            prepared.messages,
            model=prepared.model,
            sampling=prepared.sampling,
            lang=chat_request.lang,
        )
        keeper = None
        if prepared.target and journal() is not None:
            _store, owner, conversation_id = prepared.target
            keeper = journal().reply(owner, lambda: conversation_id, prepared.model)
        if keeper is not None or used is not None:
            spent = used.ended if used is not None else None
            events = recorded(events, keeper, prepared.model, spent=spent)
        body = sse.event_stream(events, snapshots=chat_request.snapshots, client_gone=client_gone)
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
        if chat_request.turn is not None:
            raise BadRequest("The page's 'turn' form is for /api/chat/stream; send 'messages'.")
        prepared = _prepare(service, chat_request)
    except BadRequest as exc:
        return _bad_request(exc)
    except LookupError:
        return _unknown_conversation()
    except AttachmentError as exc:
        return _refused_attachment(exc)
    refused = usage.refusal()
    if refused is not None:
        return refused
    try:
        used, prepared = _meter(prepared)
    except DaySpent as exc:
        return usage.refused(exc.state)
    try:
        answer = service.complete(
            prepared.messages,
            model=prepared.model,
            sampling=prepared.sampling,
            lang=chat_request.lang,
        )
    except ChatError as exc:
        if used is not None:
            used.ended([])  # nothing was used: its reservation goes
        if prepared.target:
            result = {"status": "error", "content": "", "error": exc.to_dict()}
            store_result(*prepared.target, record_result([], result, model=prepared.model))
        return jsonify(error=exc.to_dict()), exc.status
    if used is not None:
        used.answered(answer["usage"], answer["reply"], model=answer["model"])
    if prepared.target:
        result = result_from_event({"done": True, **answer}, answer["reply"])
        store_result(*prepared.target, record_result([], result, model=answer["model"]))
    return jsonify(answer)


@bp.get("/api/providers/check")
def providers_check():
    """Ask every provider for one token: OK, or exactly what is wrong (keys never shown).

    Each provider asked is one request in MAX_REQUEST_PER_HOUR, as a chat request is.
    """
    service = chat_service()
    wait = spend_budget(len(service.registry.config.providers))
    if wait is not None:
        return budget_refusal(wait)
    return jsonify(providers=check_providers(service))


# Light or dark as the chat page is (components/theme.py).
BLOCKED_LINK_STYLE = (
    ":root{color-scheme:light;background:#fff;color:#1f1f1f}"
    ':root[data-theme="dark"]{color-scheme:dark;background:#141414;color:#e6e6e6}'
    "body{font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',sans-serif;margin:24px}"
    "pre{white-space:pre-wrap;overflow-wrap:anywhere}"
)


@bp.get("/blocked-link")
def blocked_link():
    """Where a reply's non-web links (`javascript:`, `data:` ...) lead instead (see markdown)."""
    target = request.args.get("to", "")[:500]
    lang = visitor_lang()
    body = (
        f"<!doctype html><html lang='{escape(html_lang(lang))}'><head>{boot_tag()}"
        f"<meta charset='utf-8'><title>{escape(t(lang, 'blocked.title'))}</title>"
        f"<style>{BLOCKED_LINK_STYLE}</style></head>"
        f"<p>{escape(t(lang, 'blocked.body'))}</p><pre>{escape(target)}</pre>"
    )
    return Response(body, mimetype="text/html", headers={"Cache-Control": "no-store"})


@bp.get("/healthz")
def healthz():
    """Liveness for Render and load balancers: the process serves requests."""
    return jsonify(status="ok")
