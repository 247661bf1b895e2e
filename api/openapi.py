"""GET /api/openapi.json: an OpenAPI 3.1 description of this deployment's HTTP API.

Why: scripts and OpenAI-only tools need one true account of what each route accepts and
answers, and the fuzz tests (tests/integration/test_api_fuzz.py) hold the app to it. So it is
built from the code, not written by hand: request bodies come from the pydantic models that
validate them (api/schemas.py), and this deployment's model ids and reply-token cap are filled
in per request. Event streams follow the convention of OpenAPI before 3.2 (and schemathesis):
a text/event-stream `schema` describes one event, whose `data` holds JSON.
"""

from __future__ import annotations

from typing import get_args

from flask import Blueprint, current_app, jsonify

from api.events import STREAM_EVENTS
from api.feedback import FeedbackAnswer, FeedbackRequest
from api.gateway import FORWARDED_PARAMS
from api.running import ID_PATTERN, RunningReply, StopRequest
from api.schemas import ChatRequest
from extensions import chat_service
from services.attachments.kinds import IMAGE_MIMES, MIMES
from services.attachments.models import AttachmentInfo
from services.chat import ChatService
from services.providers import Kind

openapi_bp = Blueprint("openapi", __name__)

REF = "#/components/schemas/{model}"
# Flask's session cookie (named in api/security.py). With ACCESS_PASSWORD set, POST /login
# issues it and every route but /login, /healthz and the gateway answers 401 without it;
# unset, nothing asks for it, hence the empty alternative.
SESSION_COOKIE = "chat_session"
SESSION = [{SESSION_COOKIE: []}, {}]
GATEWAY = [{"gateway": []}]
STRING = {"type": "string"}


def _ref(name: str) -> dict:
    return {"$ref": REF.format(model=name)}


def _obj(required: list[str], **properties: dict) -> dict:
    return {"type": "object", "required": required, "properties": properties}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _sse(data: dict) -> dict:
    """A text/event-stream body: `schema` is one event, `data` its JSON (or a literal)."""
    return {"text/event-stream": {"schema": _obj(["data"], data={"type": "string", **data})}}


def _sse_json(schema: dict) -> dict:
    return _sse({"contentMediaType": "application/json", "contentSchema": schema})


def _response(description: str, content: dict, **headers: dict) -> dict:
    response = {"description": description, "content": content}
    if headers:
        response["headers"] = headers
    return response


# {"error": {"message", "type"[, "detail", "retry_after"]}}: every error of the /api routes.
ERROR_OBJECT = _obj(
    ["message", "type"],
    message={**STRING, "description": "What went wrong, in plain words."},
    type={**STRING, "description": "invalid_request, not_found, unauthorized, timeout..."},
    detail={**STRING, "description": "The upstream's own message (never a key)."},
    retry_after={"type": "integer", "description": "Seconds to wait, on a 429."},
    params={
        "type": "object",
        "description": "An attachment's refusal: the values its message names (limit_mb, "
        "allowed, name...), for the page's own words (`attach.error.<type>`).",
    },
)
# The gateway answers like OpenAI, so clients' SDKs raise their usual exceptions.
GATEWAY_ERROR_OBJECT = _obj(
    ["message", "type"],
    message=STRING,
    type=STRING,
    param={"description": "The offending parameter, or null."},
    code={"description": "invalid_api_key, model_not_found, timeout... or null."},
)
CHAT_REPLY = _obj(
    ["reply", "usage", "finish_reason", "model", "context"],
    reply=STRING,
    usage=_ref("Usage"),
    finish_reason={"type": ["string", "null"]},
    model=STRING,
    context=_ref("Context"),
)
# POST /api/chat/stream: one event of the stream (api/events.py), as its `data` holds it.
STREAM_EVENT = {
    "anyOf": [_ref(model.__name__) for model in STREAM_EVENTS],
    "description": "A page turn (`turn` in the request) opens with TurnOpened; every stream "
    "sends text as DeltaEvent and ends with one DoneEvent or ErrorEvent.",
}
PROVIDER_CHECK = _obj(
    ["id", "name", "kind", "model", "ok"],
    id=STRING,
    name=STRING,
    kind={"enum": list(get_args(Kind))},
    model=STRING,
    ok={"type": "boolean"},
    latency_ms={"type": "integer"},
    error=ERROR_OBJECT,
)
MODEL_LIST = _obj(
    ["object", "data"],
    object={"const": "list"},
    data={
        "type": "array",
        "items": _obj(
            ["id", "object", "created", "owned_by"],
            id=STRING,
            object={"const": "model"},
            created={"type": "integer"},
            owned_by=STRING,
        ),
    },
)
CHAT_COMPLETION = _obj(
    ["id", "object", "created", "model", "choices"],
    id=STRING,
    object={"const": "chat.completion"},
    created={"type": "integer"},
    model=STRING,
    choices={"type": "array", "items": {"type": "object"}},
)
# A streamed completion: chunks, maybe an error that cut it, then `[DONE]`.
COMPLETION_EVENT_DATA = {
    "anyOf": [
        {"const": "[DONE]"},
        {
            "contentMediaType": "application/json",
            "contentSchema": {
                "anyOf": [
                    _obj(
                        ["id", "object", "created", "model", "choices"],
                        object={"const": "chat.completion.chunk"},
                        model=STRING,
                        choices={"type": "array"},
                    ),
                    _obj(["error"], error=GATEWAY_ERROR_OBJECT),
                ]
            },
        },
    ]
}
ERROR = _obj(["error"], error=ERROR_OBJECT)
GATEWAY_ERROR = _obj(["error"], error=GATEWAY_ERROR_OBJECT)
# api/responses.py sends a refusal to a caller that accepts only SSE (the page's stream) as
# one error event, with the real status; everyone else gets JSON.
REFUSAL = {**_json(_ref("Error")), **_sse_json(_obj(["error"], error=ERROR_OBJECT))}
RETRY_AFTER = {
    "description": "Seconds to wait before retrying (on this server's own limits).",
    "schema": {"type": "integer", "minimum": 0},
}


def _event_schemas() -> dict:
    """The stream's events, their parts (Usage, Context ...) and the thread's entries."""
    schemas: dict = {}
    for model in STREAM_EVENTS:
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def _chat_request_schemas(service: ChatService) -> dict:
    """ChatRequest and Message as pydantic sees them, narrowed to this deployment's bounds."""
    schema = ChatRequest.model_json_schema(ref_template=REF)
    defs = schema.pop("$defs")
    properties = schema["properties"]
    properties["model"]["anyOf"][0]["enum"] = list(service.models)
    if service.settings.max_reply_tokens:
        properties["max_tokens"]["anyOf"][0]["maximum"] = service.settings.max_reply_tokens
    settings = service.settings
    schema["description"] += (
        " Also checked, beyond what a schema can say: the last message is the user's, its"
        f" content is not blank and at most {settings.max_input_chars} characters,"
        " and `conversation_id` names one of the caller's conversations (else 404)."
        " Images (`image_url` content parts: `data:image/...;base64,` URLs only, never a web"
        f" address; or the page turn's attachment ids): at most {settings.max_attachments}"
        f" per request, each at most {settings.max_attachment_mb:g} MB (else 413), only to"
        " models that take images (else 400 `no_vision`)."
    )
    return {"ChatRequest": schema, **defs}


def _chat_route(summary: str, ok: dict, *, upstream_errors: bool, page_turn: bool = False) -> dict:
    responses = {
        "200": ok,
        "400": _response(
            "The request is invalid (or the model refused it: a content filter, a conversation"
            " too long); the message says why.",
            REFUSAL,
        ),
        "401": {"$ref": "#/components/responses/LoginRequired"},
        "403": _response("Sent by a page of another site (cross-site request).", REFUSAL),
        "413": _response(
            "An image larger than MAX_ATTACHMENT_MB, or a body larger than its images need.",
            REFUSAL,
        ),
        "404": _response("`conversation_id` is not one of the caller's conversations.", REFUSAL),
        "429": _response(
            "Too many requests or open streams from this address, the model's rate limit, or"
            " (`daily_quota`, with ACCOUNTS=true) the user's tokens for today are spent: the"
            " error's `quota` says `used`, `budget`, `resets_at` and `timezone`.",
            REFUSAL,
            **{"Retry-After": RETRY_AFTER},
        ),
    }
    if page_turn:
        responses["409"] = _response(
            "The page's `turn` names another persona than its conversation was started with"
            " (`persona_changed`): a conversation keeps its persona.",
            REFUSAL,
        )
    if upstream_errors:
        for status, reason in (
            ("502", "The model's server failed, refused the server's key, or was unreachable."),
            ("503", "No API key is configured for the model's provider."),
            ("504", "The model did not answer in time."),
        ):
            responses[status] = _response(reason, _json(_ref("Error")))
    return {
        "summary": summary,
        "security": SESSION,
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": _ref("ChatRequest"),
                    "example": {"messages": [{"role": "user", "content": "Hello!"}]},
                }
            },
        },
        "responses": responses,
    }


def _gateway_errors() -> dict:
    def error(description: str, **headers: dict) -> dict:
        return _response(description, _json(_ref("GatewayError")), **headers)

    return {
        "400": error("The body is not a Chat Completions request."),
        "413": error("The body is larger than MAX_ATTACHMENTS images of MAX_ATTACHMENT_MB."),
        "401": error(
            "No valid gateway key (or the upstream refused this server's own key).",
            **{"WWW-Authenticate": {"description": "`Bearer`", "schema": STRING}},
        ),
        "404": error("The gateway is off (no GATEWAY_API_KEYS), or the model is not configured."),
        "429": _response(
            "This server's limit, or the upstream's, passed on; or (`code` `daily_quota`, with"
            " ACCOUNTS=true) the user's tokens for today are spent, until `Retry-After`.",
            {**_json(_ref("GatewayError")), **_sse_json(_obj(["error"], error=ERROR_OBJECT))},
            **{"Retry-After": RETRY_AFTER},
        ),
        "502": error("The model's server failed or was unreachable."),
        "503": error("No API key is configured for the model's provider."),
        "504": error("The model did not answer in time."),
        "4XX": error("The upstream's own refusal, passed on with its status."),
        "5XX": error("The upstream's own failure, passed on with its status."),
    }


# An attachment's id in a path (api/attachments.py): any other string is answered 404 too.
ATTACHMENT_ID = {
    "name": "attachment_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
}
BINARY = {"type": "string", "format": "binary"}
# What a stored file may be served as: the type its bytes were found to be (never SVG, HTML).
SERVED_TYPES = sorted({*IMAGE_MIMES, *MIMES.values()})


def _attachment_paths(login: dict) -> dict:
    """POST/GET/DELETE /api/attachments (issue 18)."""
    forbidden = {"403": _response("Sent by a page of another site.", REFUSAL)}
    not_found = _response(
        "Not an attachment of the caller's (another's, unknown, expired: all alike).", REFUSAL
    )
    return {
        "/api/attachments": {
            "post": {
                "summary": "Upload one file (an image for a vision model, or a document as "
                "context), pending until a question sends it.",
                "security": SESSION,
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": _obj(["file"], file=BINARY),
                        }
                    },
                },
                "responses": {
                    "201": _response("What was stored.", _json(_ref("AttachmentUpload"))),
                    "400": _response(
                        "Refused, `type` saying why: empty, unsupported, mismatch, svg, "
                        "too_many_pixels, corrupt, encrypted, cut, invalid_request.",
                        REFUSAL,
                    ),
                    **login,
                    **forbidden,
                    "404": _response("Attachments are off (MAX_ATTACHMENTS=0).", REFUSAL),
                    "413": _response("Larger than MAX_ATTACHMENT_MB (`too_large`).", REFUSAL),
                    "429": _response(
                        "Too many uploads from this address this hour.",
                        REFUSAL,
                        **{"Retry-After": RETRY_AFTER},
                    ),
                    "503": _response("The file could not be stored right now.", REFUSAL),
                },
            }
        },
        "/api/attachments/{attachment_id}": {
            "parameters": [ATTACHMENT_ID],
            "get": {
                "summary": "The file as uploaded, as a download, typed by its bytes.",
                "security": SESSION,
                "responses": {
                    "200": {
                        "description": "The file (`Content-Disposition: attachment`).",
                        "content": {mime: {"schema": BINARY} for mime in SERVED_TYPES},
                    },
                    "304": {"description": "Not modified since the copy the caller has."},
                    **login,
                    "404": not_found,
                },
            },
            "delete": {
                "summary": "Drop a pending attachment (one not sent with a question yet).",
                "security": SESSION,
                "responses": {
                    "204": {"description": "Deleted, its files too."},
                    **login,
                    **forbidden,
                    "404": _response(
                        "Not a pending attachment of the caller's (one sent stays with its "
                        "conversation).",
                        REFUSAL,
                    ),
                },
            },
        },
        "/api/attachments/{attachment_id}/thumbnail": {
            "parameters": [ATTACHMENT_ID],
            "get": {
                "summary": "An image's thumbnail (WebP, longest side 256 px), inline.",
                "security": SESSION,
                "responses": {
                    "200": {
                        "description": "The thumbnail.",
                        "content": {"image/webp": {"schema": BINARY}},
                    },
                    "304": {"description": "Not modified since the copy the caller has."},
                    **login,
                    "404": not_found,
                },
            },
        },
    }


def build_spec(service: ChatService, cookie: str = SESSION_COOKIE) -> dict:
    """The OpenAPI document of the app `service` belongs to; `cookie` names its session."""
    login = {"401": {"$ref": "#/components/responses/LoginRequired"}}
    completion_request = {
        "type": "object",
        "required": ["model", "messages"],
        "description": "Chat Completions parameters; fields not listed here are dropped.",
        "properties": {
            "model": {"type": "string", "enum": list(service.models)},
            "messages": {"type": "array", "minItems": 1, "items": {"type": "object"}},
            "stream": {"type": "boolean"},
            **{
                name: {"description": "Passed on to the model as it is."}
                for name in FORWARDED_PARAMS
                if name != "stream"
            },
        },
    }
    paths = {
        "/api/chat": {
            "post": _chat_route(
                "One whole reply, as JSON.",
                _response("The reply.", _json(_ref("ChatReply"))),
                upstream_errors=True,
            )
        },
        "/api/chat/stream": {
            "post": _chat_route(
                "One reply as server-sent events; a failure upstream ends it with an error event.",
                _response(
                    "Text pieces, then one `done` or `error` event.", _sse_json(STREAM_EVENT)
                ),
                upstream_errors=False,
                page_turn=True,
            )
        },
        "/api/chat/running": {
            "get": {
                "summary": "The caller's reply still being received in a conversation (a page "
                "that left mid-reply follows it here).",
                "security": SESSION,
                "parameters": [
                    {
                        "name": "conversation_id",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "pattern": ID_PATTERN},
                    }
                ],
                "responses": {
                    "200": _response(
                        "`streaming` false when nothing of the caller's runs there.",
                        _json(_ref("RunningReply")),
                    ),
                    "400": _response(
                        "No `conversation_id`, or not one shaped like an id.", REFUSAL
                    ),
                    **login,
                },
            }
        },
        "/api/chat/stop": {
            "post": {
                "summary": "Stop the caller's reply being received in a conversation, from "
                "any worker or instance.",
                "security": SESSION,
                "requestBody": {"required": True, "content": _json(_ref("StopRequest"))},
                "responses": {
                    "202": {"description": "Stopped, or nothing of the caller's ran there."},
                    "400": _response(
                        "No `conversation_id`, or not one shaped like an id.", REFUSAL
                    ),
                    **login,
                    "403": _response("Sent by a page of another site.", REFUSAL),
                },
            }
        },
        "/api/chat/feedback": {
            "post": {
                "summary": "👍 / 👎 (`value` up, down or null to clear) on a finished reply of "
                "the caller's, with an optional comment on a 👎 (issue 17).",
                "security": SESSION,
                "requestBody": {"required": True, "content": _json(_ref("FeedbackRequest"))},
                "responses": {
                    "200": _response("What is stored now.", _json(_ref("FeedbackAnswer"))),
                    "400": _response("Not a request of this shape.", REFUSAL),
                    **login,
                    "403": _response("Sent by a page of another site.", REFUSAL),
                    "404": _response(
                        "No finished reply of the caller's there (or no records kept).", REFUSAL
                    ),
                },
            }
        },
        **_attachment_paths(login),
        "/api/providers/check": {
            "get": {
                "summary": "Ask every provider for one token: OK, or exactly what is wrong.",
                "security": SESSION,
                "responses": {
                    "200": _response(
                        "One result per provider.",
                        _json(
                            _obj(
                                ["providers"], providers={"type": "array", "items": PROVIDER_CHECK}
                            )
                        ),
                    ),
                    **login,
                },
            }
        },
        "/api/openapi.json": {
            "get": {
                "summary": "This document.",
                "security": SESSION,
                "responses": {"200": _response("OpenAPI 3.1.", _json({"type": "object"})), **login},
            }
        },
        "/healthz": {
            "get": {
                "summary": "Liveness: the process serves requests.",
                "security": [],
                "responses": {
                    "200": _response("Alive.", _json(_obj(["status"], status={"const": "ok"})))
                },
            }
        },
        "/v1/models": {
            "get": {
                "summary": "The gateway's models, by the id clients send as `model`.",
                "security": GATEWAY,
                "responses": {
                    "200": _response("The configured models.", _json(MODEL_LIST)),
                    **{code: _gateway_errors()[code] for code in ("401", "404")},
                },
            }
        },
        "/v1/chat/completions": {
            "post": {
                "summary": "OpenAI-compatible Chat Completions, forwarded to the model's provider.",
                "security": GATEWAY,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": completion_request,
                            "example": {
                                "model": service.default_model,
                                "messages": [{"role": "user", "content": "Hello!"}],
                            },
                        }
                    },
                },
                "responses": {
                    "200": _response(
                        "A completion, or with `stream: true` its chunks.",
                        {**_json(CHAT_COMPLETION), **_sse(COMPLETION_EVENT_DATA)},
                    ),
                    **_gateway_errors(),
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{service.settings.app_title} API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": {
                **_chat_request_schemas(service),
                **_event_schemas(),
                "ChatReply": CHAT_REPLY,
                "RunningReply": RunningReply.model_json_schema(),
                "StopRequest": StopRequest.model_json_schema(),
                "FeedbackRequest": FeedbackRequest.model_json_schema(),
                "FeedbackAnswer": FeedbackAnswer.model_json_schema(),
                "AttachmentUpload": _attachment_upload_schema(),
                "Error": ERROR,
                "GatewayError": GATEWAY_ERROR,
            },
            "responses": {
                "LoginRequired": _response(
                    f"ACCESS_PASSWORD is set, and the `{cookie}` cookie is missing"
                    " or no longer valid.",
                    REFUSAL,
                ),
            },
            "securitySchemes": {
                SESSION_COOKIE: {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": cookie,
                    "description": "Set by POST /login when ACCESS_PASSWORD is set.",
                },
                "gateway": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "One of GATEWAY_API_KEYS.",
                },
            },
        },
    }


def _attachment_upload_schema() -> dict:
    schema = AttachmentInfo.model_json_schema()
    schema["properties"]["thumbnail"] = {
        **STRING,
        "description": "An image's thumbnail URL (images only).",
    }
    return schema


@openapi_bp.get("/api/openapi.json")
def openapi_json():
    """The OpenAPI document of this deployment."""
    return jsonify(build_spec(chat_service(), current_app.config["SESSION_COOKIE_NAME"]))
