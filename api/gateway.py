"""An OpenAI-compatible gateway: POST /v1/chat/completions and GET /v1/models.

Tools that only speak the OpenAI API can then use every configured provider, Azure included:
the model a client names is a configured model id, and the provider's own client maps it to the
upstream model or Azure deployment. Off (404, as if absent) unless GATEWAY_API_KEYS lists the
bearer tokens clients must send, or ACCOUNTS=true: then a user's own API token (cgpt_...) works
too, and the request acts as that user.
"""

from __future__ import annotations

import functools
import hmac
import json
import math
from collections.abc import Iterator

import openai
from flask import Blueprint, Response, g, jsonify, request

from api import sse, usage
from api.limits import TooManyStreams, open_stream_slot
from api.routes import SSE_HEADERS
from api.schemas import BadRequest, body_limit, parse_json_body
from extensions import accounts, chat_service
from services.cancel import Cancel, shut_down
from services.chat import max_tokens_name
from services.errors import ChatError, classify, requested_wait
from services.metering import DaySpent
from services.retry import call_with_retries
from services.scrub import SCRUBBER

gateway_bp = Blueprint("gateway", __name__)

# What the gateway passes on; anything else a client sends is dropped, so a request cannot
# reach upstream features (or headers, or URLs) this server did not mean to offer.
FORWARDED_PARAMS = (
    "temperature",
    "top_p",
    "n",
    "stop",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "seed",
    "user",
    "response_format",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "stream",
    "stream_options",
)

DONE = "data: [DONE]\n\n"
# An upstream error body that is not JSON (a proxy's HTML page) is cut to this many characters.
MAX_MESSAGE_CHARS = 1000


def _error(status: int, message: str, type_: str, code: str | None, param: str | None = None):
    """An OpenAI-style error response, so clients' SDKs raise their usual exceptions."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return jsonify(body), status


def _invalid(message: str, param: str | None = None):
    return _error(400, message, "invalid_request_error", None, param)


@gateway_bp.before_request
def _guard():
    """Hide the gateway unless it is configured, and require one of its tokens (or, with
    ACCOUNTS=true, a user's own API token: api/accounts.py checked it and set g.user)."""
    if g.get("token_user") is not None:
        return None
    keys = chat_service().settings.gateway_keys
    if not keys and accounts() is None:
        return _error(404, "Not found.", "invalid_request_error", "not_found")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    given = token.strip().encode()
    # Compare with every key, in constant time, so timing reveals neither a key nor which one.
    matches = [hmac.compare_digest(given, key.encode()) for key in keys]
    if scheme.lower() != "bearer" or not given or not any(matches):
        response, status = _error(
            401,
            "Invalid API key. Send one of the gateway's keys as 'Authorization: Bearer <key>'.",
            "invalid_request_error",
            "invalid_api_key",
        )
        response.headers["WWW-Authenticate"] = "Bearer"
        return response, status
    return None


@gateway_bp.get("/v1/models")
def list_models():
    """Every configured model, by the id clients send as `model`."""
    registry = chat_service().registry
    data = []
    for model_id in registry.model_ids:
        owner = registry.route(model_id).provider.id
        data.append({"id": model_id, "object": "model", "created": 0, "owned_by": owner})
    return jsonify(object="list", data=data)


def _read_body() -> dict:
    """The JSON request body; raises BadRequest with a reason a client can act on.

    Content parts (text, images) pass through to the provider unchanged; a body with images
    may be as large as the chat API's (MAX_ATTACHMENTS images of MAX_ATTACHMENT_MB).
    """
    settings = chat_service().settings
    limit = body_limit(settings.max_attachments, settings.max_attachment_mb)
    # Read at most one byte past the limit, so a huge body is refused without buffering it.
    data = parse_json_body(request.stream.read(limit + 1), request.content_type, limit=limit)
    try:
        # JSON may carry a lone surrogate ("\ud800"), which cannot be sent on as UTF-8.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("The request body has text that is not valid Unicode.") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    return data


def _scrub_all(value, secrets: list[str]):
    """`value` with every string scrubbed of secrets, however deeply nested."""
    SCRUBBER.add(secrets)
    return SCRUBBER.scrub_value(value)


def _upstream_error(body: object, fallback: str, status: int) -> dict:
    """Upstream's error object with message/type/param/code, whatever shape it came in."""
    # The SDK usually unwraps {"error": {...}} already; some servers send {"error": "text"}.
    if isinstance(body, dict) and "error" in body:
        body = body["error"]
    error = dict(body) if isinstance(body, dict) else {}
    if not error.get("message"):
        text = body.strip() if isinstance(body, str) else ""
        error["message"] = text[:MAX_MESSAGE_CHARS] or fallback
    error["type"] = error.get("type") or (
        "invalid_request_error" if status < 500 else "server_error"
    )
    error.setdefault("param", None)
    error.setdefault("code", None)
    return error


def _failure(exc: Exception, secrets: list[str], *, mid_stream: bool = False) -> tuple[int, dict]:
    """(HTTP status, OpenAI-style error object) for anything that failed upstream."""
    if isinstance(exc, openai.APIStatusError):
        # Passed on as is: the client's SDK then raises what it would have raised upstream.
        error = _upstream_error(exc.body, exc.message, exc.status_code)
        return exc.status_code, _scrub_all(error, secrets)
    if isinstance(exc, openai.APIError) and isinstance(exc.body, dict):
        # An error event inside an upstream stream.
        return 502, _scrub_all(_upstream_error(exc.body, exc.message, 502), secrets)
    # Timeouts (504), unreachable or cut connections (502), our own bugs (500, logged).
    error = classify(exc, secrets)
    if mid_stream and error.kind in ("connection_error", "internal_error"):
        # After the first chunk, a lost connection means a cut reply, not an unreachable model.
        error = ChatError("stream_cut", "The connection to the model was cut.")
    return error.status, {
        "message": error.message,
        "type": "server_error",
        "param": None,
        "code": error.kind,
    }


def _relay(
    stream: openai.Stream,
    model_id: str,
    secrets: list[str],
    cancel: Cancel | None = None,
    used: usage.Meter | None = None,
) -> Iterator[str]:
    """Upstream chunks as SSE under the public model id, always ending with `data: [DONE]`.

    A failure mid-stream becomes one `{"error": ...}` event (OpenAI's SDK raises APIError on
    it). Closing this generator (the client went away) closes the upstream response; `cancel`
    shuts its socket down from another thread, waking a read blocked on a silent upstream.
    `used` counts the reply when it ends, however it ends (the upstream's usage when the client
    asked for it with `stream_options`, else a local count of what was sent and received).
    """
    finished = False
    cancel = cancel or Cancel()
    reported: dict | None = None
    parts: list[str] = []
    try:
        with stream, cancel.on_cancel(functools.partial(shut_down, stream)):
            for chunk in stream:
                finished = finished or any(c.finish_reason for c in chunk.choices)
                if chunk.usage is not None:
                    reported = chunk.usage.model_dump(exclude_none=True)
                parts.extend(_chunk_text(chunk))
                data = chunk.model_dump(mode="json", exclude_unset=True)
                yield sse.encode({**data, "model": model_id})
        if not finished:
            # The body ended cleanly, but no choice ever finished: a cut reply, not a whole one.
            cut = {"message": "The reply stopped before it was complete.", "type": "server_error"}
            yield sse.encode({"error": {**cut, "param": None, "code": "stream_cut"}})
    except Exception as exc:
        _, error = _failure(exc, secrets, mid_stream=True)
        yield sse.encode({"error": error})
    finally:
        # A stream that failed before its first token used nothing.
        if used is not None and (reported or parts or finished):
            used.answered(reported, "".join(parts))
        elif used is not None:
            used.ended([])  # its reservation goes
    yield DONE


def _chunk_text(chunk) -> list[str]:
    """The text a streamed chunk adds (content and tool-call arguments), for a local count."""
    texts = []
    for choice in chunk.choices:
        delta = choice.delta
        if delta is None:
            continue
        if delta.content:
            texts.append(delta.content)
        for call in delta.tool_calls or []:
            if call.function is not None and call.function.arguments:
                texts.append(call.function.arguments)
    return texts


def _reply_text(result) -> str:
    """A whole reply's text (every choice, tool-call arguments too), for a local count."""
    texts = []
    for choice in getattr(result, "choices", None) or []:
        message = choice.message
        if message is None:
            continue
        texts.append(message.content or "")
        for call in message.tool_calls or []:
            function = getattr(call, "function", None)
            if function is not None and function.arguments:
                texts.append(function.arguments)
    return "".join(texts)


def _quota_refusal(state):
    """The 429 for a user whose day is spent, in OpenAI's form."""
    response, status = _error(
        429, usage.refusal_message(state), "insufficient_quota", usage.REFUSAL_KIND
    )
    # The wait is until midnight: an SDK that honours x-should-retry does not retry now.
    response.headers["Retry-After"] = str(state.seconds_to_reset())
    response.headers["x-should-retry"] = "false"
    return response, status


def _max_tokens(params: dict) -> int | None:
    """The reply's own cap, under either of its names (a positive whole number, else none)."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = params.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _choices(params: dict) -> int:
    """How many replies the request asks for at once (`n`; 1 unless a whole number above 1):
    each may be as long as the cap, so a budget holds that many."""
    value = params.get("n")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 1 else 1


def _limit(params: dict, max_tokens: int, kind: str) -> None:
    """Cap the forwarded request at `max_tokens`, under the name the client used, else the
    one the provider takes (services/chat.py `max_tokens_name`)."""
    names = [name for name in ("max_completion_tokens", "max_tokens") if name in params]
    if not names:
        names = [max_tokens_name(kind)]
    for name in names:
        params[name] = max_tokens


@gateway_bp.post("/v1/chat/completions")
def chat_completions():
    """Forward one Chat Completions request to the model's provider, streamed or not."""
    service = chat_service()
    try:
        body = _read_body()
    except BadRequest as exc:
        if exc.status == 413:
            return _error(413, exc.message, "invalid_request_error", "request_too_large")
        return _invalid(exc.message)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return _invalid("You must provide a model parameter (GET /v1/models lists them).", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return _invalid("'messages' must be a non-empty list.", "messages")
    if not all(isinstance(m, dict) for m in messages):
        return _invalid("Every message must be an object with a role.", "messages")
    if "stream" in body and not isinstance(body["stream"], bool):
        return _invalid("'stream' must be true or false.", "stream")
    if model not in service.models:
        return _error(
            404,
            f"The model '{model}' does not exist. Available: {', '.join(service.models)}.",
            "invalid_request_error",
            "model_not_found",
            "model",
        )

    state = usage.day_spent()
    if state is not None:
        return _quota_refusal(state)

    secrets = service.registry.secrets
    params = {name: body[name] for name in FORWARDED_PARAMS if name in body}
    release_slot = None
    if params.get("stream"):
        try:
            release_slot = open_stream_slot()  # MAX_CONCURRENT_STREAMS, shared with the page
        except TooManyStreams as exc:
            return exc.response()
    own_cap = _max_tokens(params)
    try:
        # Under a daily budget, the reply's worst case is reserved here (api/usage.py).
        used, max_tokens = usage.metered(
            "gateway", model, messages, max_tokens=own_cap, choices=_choices(params)
        )
    except DaySpent as exc:
        if release_slot:
            release_slot()
        return _quota_refusal(exc.state)
    try:
        route = service.route(model)
        if max_tokens != own_cap:
            # Only what is left of the day: the reply ends with finish_reason "length".
            _limit(params, max_tokens, route.provider.kind)
        # Retried by the page's rule (services/retry.py) until the upstream answers. A stream is
        # then relayed chunk by chunk as it comes, so a failure in it is passed on, not retried.
        result = call_with_retries(
            # The Azure client puts `model` in the URL path: this is also the deployment mapping.
            lambda: route.client.chat.completions.create(
                model=route.model.upstream, messages=service.enforce_persona(messages), **params
            ),
            service.settings.openai_max_retries,
        )
    except ChatError as exc:  # the provider has no key configured
        if release_slot:
            release_slot()
        if used is not None:
            used.ended([])  # nothing was used: its reservation goes
        return _error(exc.status, exc.message, "server_error", exc.kind)
    except Exception as exc:
        if release_slot:
            release_slot()
        if used is not None:
            used.ended([])
        status, error = _failure(exc, secrets)
        response = jsonify(error=error)
        asked = requested_wait(exc) if status == 429 else None
        if asked is not None and 0 < asked < math.inf:
            # A wait too long to spend here is passed on, so the client's SDK can keep to it.
            response.headers["Retry-After"] = str(math.ceil(asked))
        return response, status

    if not params.get("stream"):
        if used is not None:
            counted = result.usage.model_dump(exclude_none=True) if result.usage else None
            used.answered(counted, _reply_text(result))
        return jsonify({**result.model_dump(mode="json", exclude_unset=True), "model": model})
    # Read in a pump thread, so a client that leaves while the model is silent frees this
    # worker thread and the upstream connection at once (see sse.relay).
    cancel = Cancel()
    body = sse.relay(
        _relay(result, model, secrets, cancel, used),
        client_gone=sse.disconnect_probe(request.environ),
        cancel=cancel,
    )
    response = Response(body, mimetype="text/event-stream", headers=SSE_HEADERS)
    # Also when the client leaves before the first chunk, and the generator never starts.
    response.call_on_close(result.close)
    if release_slot:
        response.call_on_close(release_slot)
    return response
