"""services.errors.classify: every upstream failure becomes one typed, readable ChatError."""

from __future__ import annotations

import json

import httpx2
import openai
import pytest

from services.errors import ChatError, classify, missing_key_error

KEY = "sk-unit-fake-key-1234"
REQUEST = httpx2.Request("POST", "http://upstream.invalid/v1/chat/completions")

SDK_CLASS = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    409: openai.ConflictError,
    422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
}


def status_error(status: int, message: str, code: str | None = None, type_: str | None = None):
    """The exception the SDK raises for an HTTP error with an OpenAI-style error body."""
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    response = httpx2.Response(status, request=REQUEST, json=body)
    cls = SDK_CLASS.get(status, openai.InternalServerError if status >= 500 else None)
    cls = cls or openai.APIStatusError
    return cls(f"Error code: {status} - {body}", response=response, body=body)


@pytest.mark.parametrize(
    ("status", "code", "kind", "api_status"),
    [
        (401, "invalid_api_key", "authentication_error", 502),
        (403, None, "permission_denied", 502),
        (404, "model_not_found", "model_not_found", 502),
        (429, "rate_limit_exceeded", "rate_limited", 429),
        (429, "insufficient_quota", "quota_exceeded", 429),
        (400, "content_filter", "content_filter", 400),
        (400, "context_length_exceeded", "context_too_long", 400),
        (400, "invalid_value", "bad_request", 400),
        (400, None, "bad_request", 400),
        (409, None, "bad_request", 400),
        (422, None, "bad_request", 400),
        (500, None, "upstream_error", 502),
        (502, None, "upstream_error", 502),
        (503, None, "upstream_error", 502),
    ],
)
def test_http_errors(status: int, code: str | None, kind: str, api_status: int) -> None:
    upstream_text = f"upstream says {status}/{code}"
    error = classify(status_error(status, upstream_text, code))
    assert isinstance(error, ChatError)
    assert error.kind == kind
    assert error.status == api_status
    assert error.detail == upstream_text
    assert error.message and upstream_text not in error.message


def test_quota_is_recognised_by_type_when_code_is_missing() -> None:
    error = classify(status_error(429, "You exceeded your quota", None, "insufficient_quota"))
    assert error.kind == "quota_exceeded"


def test_error_body_without_error_wrapper() -> None:
    """Some compatible servers answer `{"message": ..., "code": ...}` at the top level."""
    body = {"message": "slow down", "code": "insufficient_quota"}
    response = httpx2.Response(429, request=REQUEST, json=body)
    error = classify(openai.RateLimitError("Error code: 429", response=response, body=body))
    assert (error.kind, error.detail) == ("quota_exceeded", "slow down")


def test_non_json_error_body_falls_back_to_the_sdk_message() -> None:
    response = httpx2.Response(502, request=REQUEST, text="<html>Bad Gateway</html>")
    exc = openai.InternalServerError("Error code: 502", response=response, body=None)
    error = classify(exc)
    assert (error.kind, error.status, error.detail) == ("upstream_error", 502, "Error code: 502")


def test_timeout() -> None:
    error = classify(openai.APITimeoutError(request=REQUEST))
    assert (error.kind, error.status, error.detail) == ("timeout", 504, "")


def test_connection_error() -> None:
    error = classify(openai.APIConnectionError(request=REQUEST))
    assert (error.kind, error.status) == ("connection_error", 502)


def test_raw_transport_error_mid_stream_is_a_cut_stream() -> None:
    exc = httpx2.RemoteProtocolError("peer closed connection without sending complete message")
    error = classify(exc)
    assert (error.kind, error.status) == ("stream_cut", 502)


def test_raw_read_timeout_is_a_timeout() -> None:
    error = classify(httpx2.ReadTimeout("timed out", request=REQUEST))
    assert (error.kind, error.status) == ("timeout", 504)


def test_unexpected_exception_is_an_internal_error(caplog: pytest.LogCaptureFixture) -> None:
    error = classify(KeyError("choices"))
    assert (error.kind, error.status, error.detail) == ("internal_error", 500, "")
    assert "choices" not in error.message
    assert any(record.exc_info for record in caplog.records)  # logged for the operator


def test_chat_error_passes_through_unchanged() -> None:
    original = missing_key_error()
    assert classify(original) is original
    assert (original.kind, original.status) == ("missing_api_key", 503)


def test_missing_key_error_is_a_new_instance_each_time() -> None:
    assert missing_key_error() is not missing_key_error()


def test_to_dict_shape() -> None:
    error = classify(status_error(429, "Rate limit reached", "rate_limit_exceeded"))
    assert error.to_dict() == {
        "message": "Too many requests to the model.",
        "type": "rate_limited",
        "detail": "Rate limit reached",
    }
    json.dumps(error.to_dict())  # serialisable as the API's error object


def with_headers(status: int, code: str, headers: dict) -> openai.APIStatusError:
    body = {"error": {"message": "Slow down", "type": None, "param": None, "code": code}}
    response = httpx2.Response(status, request=REQUEST, json=body, headers=headers)
    cls = SDK_CLASS.get(status, openai.InternalServerError)
    return cls(f"Error code: {status}", response=response, body=body)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "120"}, 120),
        ({"retry-after": "0.2"}, 1),  # whole seconds, never 0
        ({"retry-after-ms": "2500"}, 3),
        ({"retry-after": "0"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_a_rate_limit_names_the_wait_the_upstream_asked_for(headers, expected) -> None:
    error = classify(with_headers(429, "rate_limit_exceeded", headers))
    assert error.kind == "rate_limited"
    assert error.retry_after == expected
    assert ("retry_after" in error.to_dict()) == (expected is not None)
    if expected is not None:
        assert error.to_dict()["retry_after"] == expected


def test_only_a_rate_limit_names_a_wait() -> None:
    assert classify(with_headers(503, "server_error", {"retry-after": "9"})).retry_after is None


def test_to_dict_leaves_out_an_empty_detail() -> None:
    assert classify(openai.APITimeoutError(request=REQUEST)).to_dict() == {
        "message": "The model did not answer in time.",
        "type": "timeout",
    }


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError(f"Authorization: Bearer {KEY}"),
        ValueError(KEY),
        openai.APIConnectionError(message=f"proxy refused Bearer {KEY}", request=REQUEST),
        httpx2.ConnectError(f"cannot connect with {KEY}", request=REQUEST),
    ],
    ids=["runtime", "value", "sdk-connection", "raw-connect"],
)
def test_the_key_never_reaches_the_client(exc: BaseException) -> None:
    error = classify(exc)
    assert KEY not in json.dumps(error.to_dict())
    assert KEY not in str(error.message)
