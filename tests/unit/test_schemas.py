"""api.schemas.parse_chat_request: what the JSON API accepts, and why it refuses the rest."""

from __future__ import annotations

import json

import pytest

from api.schemas import MAX_BODY_BYTES, MAX_MESSAGES, BadRequest, parse_chat_request

MODELS = ["gpt-4o-mini"]
JSON = "application/json"


def body(**fields: object) -> bytes:
    fields.setdefault("messages", [{"role": "user", "content": "Hello"}])
    return json.dumps(fields).encode("utf-8")


def parse(raw: bytes, content_type: str | None = JSON, max_input_chars: int = 100):
    return parse_chat_request(raw, content_type, max_input_chars=max_input_chars, models=MODELS)


def refused(raw: bytes, content_type: str | None = JSON, max_input_chars: int = 100) -> str:
    with pytest.raises(BadRequest) as info:
        parse(raw, content_type, max_input_chars)
    assert str(info.value) == info.value.message
    return info.value.message


def test_valid_request() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "你好"},
    ]
    request = parse(body(messages=messages, model="gpt-4o-mini", temperature=0.7, snapshots=True))
    assert [m.model_dump() for m in request.messages] == messages
    assert request.model == "gpt-4o-mini"
    assert request.temperature == 0.7
    assert request.snapshots is True


def test_optional_fields_default() -> None:
    request = parse(body())
    assert (request.model, request.temperature, request.snapshots) == (None, None, False)


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", " application/json "]
)
def test_json_content_type_variants_are_accepted(content_type: str) -> None:
    assert parse(body(), content_type).messages[0].content == "Hello"


@pytest.mark.parametrize(
    "content_type",
    [None, "", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"],
)
def test_wrong_content_type(content_type: str | None) -> None:
    assert "Content-Type" in refused(body(), content_type)


@pytest.mark.parametrize("raw", [b"", b"{", b"{'messages': []}", b"\xff\xfe\x00", b"nope"])
def test_invalid_json(raw: bytes) -> None:
    assert "not valid JSON" in refused(raw)


def test_deeply_nested_json_is_a_bad_request() -> None:
    """A small but deeply nested body must be a 400, not a RecursionError (a 500)."""
    raw = b"[" * 100_000
    assert len(raw) < MAX_BODY_BYTES
    assert "JSON" in refused(raw)


@pytest.mark.parametrize("raw", [b"[]", b"[1, 2]", b'"hello"', b"42", b"null"])
def test_body_not_an_object(raw: bytes) -> None:
    message = refused(raw)
    assert "'body'" in message
    assert "dictionary" in message


def test_missing_messages() -> None:
    message = refused(b'{"model": "gpt-4o-mini"}')
    assert "'messages'" in message
    assert "required" in message.lower()


def test_empty_messages() -> None:
    message = refused(body(messages=[]))
    assert "'messages'" in message
    assert "at least 1" in message


def test_too_many_messages() -> None:
    messages = [{"role": "user", "content": "q"}] * (MAX_MESSAGES + 1)
    assert "'messages'" in refused(body(messages=messages))


@pytest.mark.parametrize("role", ["tool", "bogus", "USER", "function"])
def test_unknown_role(role: str) -> None:
    message = refused(
        body(messages=[{"role": role, "content": "x"}, {"role": "user", "content": "q"}])
    )
    assert "'messages.0.role'" in message
    assert "'user'" in message


@pytest.mark.parametrize("content", [5, None, {"type": "text", "text": "hi"}])
def test_content_must_be_a_string(content: object) -> None:
    message = refused(body(messages=[{"role": "user", "content": content}]))
    assert "'messages.0.content'" in message
    assert "string" in message


def test_content_parts_must_be_parts() -> None:
    message = refused(body(messages=[{"role": "user", "content": ["text"]}]))
    assert "'messages.0.content.0'" in message


def test_message_missing_content() -> None:
    assert "'messages.0.content'" in refused(body(messages=[{"role": "user"}]))


@pytest.mark.parametrize("last", ["assistant", "system"])
def test_last_message_must_be_from_the_user(last: str) -> None:
    messages = [{"role": "user", "content": "q"}, {"role": last, "content": "a"}]
    assert "the last message must have role 'user'" in refused(body(messages=messages))


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_empty_question(question: str) -> None:
    assert refused(body(messages=[{"role": "user", "content": question}])) == (
        "The message is empty."
    )


def test_question_length_boundary() -> None:
    at_limit = body(messages=[{"role": "user", "content": "字" * 100}])
    assert parse(at_limit, max_input_chars=100).messages[0].content == "字" * 100
    over = body(messages=[{"role": "user", "content": "x" * 101}])
    assert refused(over, max_input_chars=100) == "The message is longer than 100 characters."


def test_only_the_question_is_length_checked() -> None:
    messages = [
        {"role": "user", "content": "x" * 500},
        {"role": "assistant", "content": "y" * 500},
        {"role": "user", "content": "short"},
    ]
    assert len(parse(body(messages=messages), max_input_chars=100).messages) == 3


def test_body_over_the_size_limit() -> None:
    raw = body(messages=[{"role": "user", "content": "x" * MAX_BODY_BYTES}])
    assert refused(raw, max_input_chars=10 * MAX_BODY_BYTES) == (
        f"The request body is larger than {MAX_BODY_BYTES} bytes."
    )


def test_body_at_the_size_limit_is_read() -> None:
    raw = body(messages=[{"role": "user", "content": "x"}])
    raw = raw[:-1] + b" " * (MAX_BODY_BYTES - len(raw)) + b"}"
    assert len(raw) == MAX_BODY_BYTES
    assert parse(raw).messages[0].content == "x"


def test_unknown_model_is_refused() -> None:
    message = refused(body(model="gpt-5-super"))
    assert message == "Unknown model 'gpt-5-super'. Available: gpt-4o-mini."


def test_known_model_is_accepted() -> None:
    request = parse_chat_request(
        body(model="llama3"), JSON, max_input_chars=100, models=["gpt-4o-mini", "llama3"]
    )
    assert request.model == "llama3"


@pytest.mark.parametrize("temperature", [-0.1, 2.1, 5, "0.5", True])
def test_bad_temperature(temperature: object) -> None:
    assert "'temperature'" in refused(body(temperature=temperature))


@pytest.mark.parametrize("temperature", [0, 1, 2, 0.0, 1.5])
def test_temperature_in_range(temperature: float) -> None:
    assert parse(body(temperature=temperature)).temperature == temperature


def test_snapshots_must_be_a_boolean() -> None:
    assert "'snapshots'" in refused(body(snapshots="yes"))


def test_extra_fields_are_ignored() -> None:
    raw = body(
        messages=[{"role": "user", "content": "Hi", "name": "alice"}],
        stream=True,
        presence_penalty=1,
        user="u-1",
    )
    request = parse(raw)
    assert request.messages[0].model_dump() == {"role": "user", "content": "Hi"}
    assert not hasattr(request, "presence_penalty")


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("top_p", 1.5, "'top_p'"),
        ("top_p", -0.1, "'top_p'"),
        ("max_tokens", 0, "'max_tokens'"),
        ("max_tokens", 2.5, "'max_tokens'"),
        ("temperature", 2.1, "'temperature'"),
    ],
)
def test_generation_settings_out_of_bounds_are_refused(field: str, value, named: str) -> None:
    assert named in refused(body(**{field: value}))


def test_generation_settings_within_bounds_are_kept() -> None:
    request = parse(body(temperature=0, top_p=1, max_tokens=1))
    assert (request.temperature, request.top_p, request.max_tokens) == (0, 1, 1)


def test_max_tokens_is_capped_by_the_servers_limit() -> None:
    raw = body(max_tokens=4097)
    with pytest.raises(BadRequest, match="at most 4096"):
        parse_chat_request(raw, JSON, max_input_chars=100, models=MODELS, max_reply_tokens=4096)
    ok = parse_chat_request(
        body(max_tokens=4096), JSON, max_input_chars=100, models=MODELS, max_reply_tokens=4096
    )
    assert ok.max_tokens == 4096
