"""Turn anything that can go wrong upstream into one plain, typed error."""

from __future__ import annotations

import email.utils
import logging
import math
import re
import time
from dataclasses import dataclass

import httpx2
import openai

from services.scrub import SCRUBBER

log = logging.getLogger(__name__)


@dataclass
class ChatError(Exception):  # not frozen: `raise` sets __traceback__
    """A failure the user should read: `kind` picks the advice, `detail` is upstream's own text.

    `status` is what the JSON API answers with: problems of our own configuration are 502/503
    (the caller cannot fix them), problems with the request itself keep a 4xx. `retry_after`
    is the wait (whole seconds) a rate-limited upstream asked for, when it named one.
    """

    kind: str
    message: str
    status: int = 502
    detail: str = ""
    retry_after: int | None = None

    def to_dict(self) -> dict:
        """The `error` object of the HTTP API."""
        out = {"message": self.message, "type": self.kind}
        if self.detail:
            out["detail"] = self.detail
        if self.retry_after is not None:
            out["retry_after"] = self.retry_after
        return out


def missing_key_error(variable: str = "OPENAI_API_KEY") -> ChatError:
    """The error for a model whose provider has no key configured (a new instance per raise)."""
    return ChatError(
        "missing_api_key",
        f"No API key is configured on the server. Set {variable} in the environment or .env "
        "and restart the app.",
        status=503,
        detail=variable,
    )


# In an upstream's error text anything shaped like a key is hidden, configured or not.
_KEY_LIKE = re.compile(r"\b(sk|key)-[A-Za-z0-9*_\-]{6,}")


def scrub(text: str, secrets: list[str] = ()) -> str:
    """`text` without any configured secret, in any shape (services/scrub.py), nor anything
    shaped like a key."""
    if secrets:
        SCRUBBER.add(secrets)
    return _KEY_LIKE.sub("[hidden key]", SCRUBBER.scrub(text))


def _upstream_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return exc.message


def _mentions_api_version(detail: str) -> bool:
    text = detail.lower()
    return "api-version" in text or "api version" in text


def _upstream_code(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return str(inner.get("code") or inner.get("type") or "")
    return ""


def requested_wait(exc: BaseException | None) -> float | None:
    """Seconds the upstream asked us to wait (retry-after-ms or Retry-After), if it did."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    for name, divisor in (("retry-after-ms", 1000), ("retry-after", 1)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return float(value) / divisor
        except ValueError:
            pass
    try:
        date = email.utils.parsedate_to_datetime(headers.get("retry-after", ""))
    except (TypeError, ValueError, IndexError):
        return None
    return date.timestamp() - time.time()


def classify(exc: BaseException, secrets: list[str] = ()) -> ChatError:
    """Map an SDK or transport exception to a ChatError; never leaks an API key."""
    error = _classify(exc)
    if error.detail:
        error.detail = scrub(error.detail, secrets)
    return error


def _classify(exc: BaseException) -> ChatError:
    if isinstance(exc, ChatError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return ChatError("timeout", "The model did not answer in time.", status=504)
    if isinstance(exc, openai.APIConnectionError):
        return ChatError("connection_error", "Could not reach the model's server.", status=502)
    if isinstance(exc, openai.APIStatusError):
        detail = _upstream_message(exc)
        code = _upstream_code(exc)
        status = exc.status_code
        if status == 401:
            # The page tells its users to tell the operator; the operator's fix is here.
            log.warning(
                "the model's server rejected the API key (401): check OPENAI_API_KEY, "
                "AZURE_OPENAI_API_KEY or the variable the providers file names, then restart"
            )
            return ChatError(
                "authentication_error", "The server's API key was rejected.", 502, detail
            )
        if status == 403:
            return ChatError(
                "permission_denied", "The API key may not use this model.", 502, detail
            )
        if _mentions_api_version(detail) and status in (400, 404):
            return ChatError("api_version_error", "The API version is not supported.", 502, detail)
        if status == 404 and code == "DeploymentNotFound":
            return ChatError(
                "deployment_not_found", "The Azure deployment does not exist.", 502, detail
            )
        if status == 404:
            return ChatError("model_not_found", "The model or endpoint was not found.", 502, detail)
        if status == 429:
            if code == "insufficient_quota":
                return ChatError("quota_exceeded", "The API account is out of quota.", 429, detail)
            error = ChatError("rate_limited", "Too many requests to the model.", 429, detail)
            asked = requested_wait(exc)
            if asked is not None and 0 < asked < math.inf:
                # Named, so the page can say how long (as for this app's own limits).
                error.retry_after = max(1, math.ceil(asked))
            return error
        if status == 400 and code == "content_filter":
            return ChatError(
                "content_filter", "The request was blocked by a content filter.", 400, detail
            )
        if status == 400 and code == "context_length_exceeded":
            return ChatError(
                "context_too_long", "The conversation is too long for the model.", 400, detail
            )
        if 400 <= status < 500:
            return ChatError("bad_request", "The model rejected the request.", 400, detail)
        return ChatError("upstream_error", "The model's server had an error.", 502, detail)
    if isinstance(exc, httpx2.TimeoutException):
        return ChatError("timeout", "The model did not answer in time.", status=504)
    if isinstance(exc, httpx2.TransportError):
        # Mid-stream transport failures (a cut connection) arrive raw from httpx, not wrapped.
        return ChatError("stream_cut", "The connection to the model was cut.", status=502)
    log.exception("unexpected error talking to the model", exc_info=exc)
    return ChatError("internal_error", "Something went wrong on the server.", status=500)
