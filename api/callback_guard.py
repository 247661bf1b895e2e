"""Dash callback requests of the wrong shape get a 400 with a plain message, never a 500.

Dash trusts the body of `POST /_dash-update-component`: `[]`, `null`, an unknown output, a
list where a pattern id should be, each ended in a 500 and a traceback in the log (with SQL
parameters when a list id reached the records). Two checks, written once:

- the envelope, before Dash reads it: a pydantic model of what the renderer sends, checked
  against the callback it names (how many inputs and states, which ids, scalar pattern values);
- the values, in the callbacks that use them: `typed` (pydantic's `validate_call`) checks their
  annotated parameters, and a pydantic ValidationError raised in a callback becomes a 400.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from dash import Dash
from flask import request
from pydantic import BaseModel, ConfigDict, ValidationError, validate_call

from api.responses import error_response

log = logging.getLogger(__name__)

CALLBACK_PATH = "_dash-update-component"
Scalar = str | int | float | bool
WILDCARDS = ('["ALL"]', '["ALLSMALLER"]', '["MATCH"]')


class InvalidCallback(ValueError):
    """A callback request that does not fit the callback it names."""


class _Entry(BaseModel):
    """One input, state or output as the renderer sends it."""

    model_config = ConfigDict(extra="allow")

    id: str | dict[str, Scalar]
    property: str
    value: Any = None


class CallbackBody(BaseModel):
    """The body of `POST /_dash-update-component`."""

    model_config = ConfigDict(extra="allow")

    output: str
    outputs: _Entry | list[_Entry | list[_Entry]]
    inputs: list[_Entry | list[_Entry]] = []
    state: list[_Entry | list[_Entry]] = []
    changedPropIds: list[str] = []


def typed(function):
    """Check a callback's annotated parameters (pydantic); a mismatch is a 400, not a 500."""
    return validate_call(function, config=ConfigDict(arbitrary_types_allowed=True))


def _declared_id(raw: str | dict) -> str | dict:
    """A dependency's id as Dash's callback map holds it (a pattern id is a JSON string)."""
    if isinstance(raw, str) and raw.startswith("{"):
        return json.loads(raw)
    return raw


def _matches(declared: dict | str, entry: _Entry | list[_Entry], prop: str) -> None:
    declared = _declared_id(declared)
    if not isinstance(declared, dict):
        if not isinstance(entry, _Entry) or entry.id != declared or entry.property != prop:
            raise InvalidCallback(f"expected {declared}.{prop}")
        return
    many = any(json.dumps(v, separators=(",", ":")) in WILDCARDS[:2] for v in declared.values())
    entries = entry if isinstance(entry, list) else [entry]
    if many != isinstance(entry, list):
        raise InvalidCallback(f"{prop}: expected {'a list' if many else 'one entry'}")
    for item in entries:
        if not isinstance(item, _Entry) or not isinstance(item.id, dict):
            raise InvalidCallback(f"{prop}: a pattern id must be an object")
        if set(item.id) != set(declared) or item.property != prop:
            raise InvalidCallback(f"{prop}: the id does not fit the pattern")
        for key, value in declared.items():
            if not isinstance(value, list) and item.id[key] != value:
                raise InvalidCallback(f"{prop}: the id does not fit the pattern")


def _changed_ids(body: CallbackBody) -> None:
    known = []
    for entry in body.inputs:
        for item in entry if isinstance(entry, list) else [entry]:
            known.append((item.id, item.property))
    for changed in body.changedPropIds:
        raw_id, dot, prop = changed.rpartition(".")
        try:
            parsed = json.loads(raw_id) if raw_id.startswith("{") else raw_id
        except ValueError:
            raise InvalidCallback("changedPropIds: not an input of this callback") from None
        if not dot or (parsed, prop) not in known:
            raise InvalidCallback("changedPropIds: not an input of this callback")


def check_callback_body(app: Dash, raw: bytes) -> None:
    """Raise InvalidCallback (or ValidationError) unless `raw` fits the callback it names."""
    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidCallback("the body is not JSON") from None
    body = CallbackBody.model_validate(data)
    callback = app.callback_map.get(body.output)
    if callback is None:
        raise InvalidCallback("no such callback")
    for kind in ("inputs", "state"):
        declared, given = callback.get(kind, []), getattr(body, kind)
        if len(declared) != len(given):
            raise InvalidCallback(f"{kind}: expected {len(declared)}, got {len(given)}")
        for dependency, entry in zip(declared, given, strict=True):
            _matches(dependency["id"], entry, dependency["property"])
    outputs = callback.get("output")
    if isinstance(outputs, list) and not (
        isinstance(body.outputs, list) and len(body.outputs) == len(outputs)
    ):
        raise InvalidCallback(f"outputs: expected {len(outputs)}")
    _changed_ids(body)


def _refusal(reason: str):
    # One line for the operator, no traceback: the request was wrong, the server is fine.
    log.info("refused a malformed callback request: %s", reason)
    return error_response(400, "invalid_request", f"Malformed callback request: {reason}.")


def _reason(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "body"
    return f"{where}: {first.get('msg', 'invalid')}"


def init_callback_guard(app: Dash) -> None:
    """Check every callback request before Dash runs it; typed callbacks' errors become 400s."""
    server = app.server

    @server.before_request
    def _check_callback_request():
        if request.method != "POST" or not request.path.endswith(CALLBACK_PATH):
            return None
        try:
            check_callback_body(app, request.get_data(cache=True))
        except InvalidCallback as exc:
            return _refusal(str(exc))
        except ValidationError as exc:
            return _refusal(_reason(exc))
        return None

    @server.errorhandler(ValidationError)
    def _invalid_callback_value(exc: ValidationError):
        if request.path.endswith(CALLBACK_PATH):
            return _refusal(_reason(exc))
        # Anywhere else it is our bug, not the caller's: the generic 500 (logged there).
        raise exc
