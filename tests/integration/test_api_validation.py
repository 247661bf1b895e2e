"""Bad requests to both chat routes: each is a clean 400 and never costs an upstream call."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from tests.conftest import TEST_KEY

ROUTES = ["/api/chat", "/api/chat/stream"]
JSON = "application/json"
USER = {"role": "user", "content": "Hello"}


def _json(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


# (id, raw body, content type); each must be refused by the default app.
BAD_REQUESTS = [
    ("malformed-json", b'{"messages": [{"role": "user", "content": "hi"}', JSON),
    ("not-utf8", b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}', JSON),
    ("empty-body", b"", JSON),
    ("text-plain", _json({"messages": [USER]}), "text/plain"),
    ("form-post", b"messages=hello", "application/x-www-form-urlencoded"),
    ("no-content-type", _json({"messages": [USER]}), None),
    ("json-array", _json([USER]), JSON),
    ("json-string", _json("Hello"), JSON),
    ("json-null", b"null", JSON),
    ("missing-messages", _json({"model": "gpt-4o-mini"}), JSON),
    ("empty-messages", _json({"messages": []}), JSON),
    ("messages-not-a-list", _json({"messages": "Hello"}), JSON),
    ("message-not-an-object", _json({"messages": ["Hello"]}), JSON),
    ("role-tool", _json({"messages": [{"role": "tool", "content": "42"}]}), JSON),
    ("role-missing", _json({"messages": [{"content": "Hello"}]}), JSON),
    ("content-number", _json({"messages": [{"role": "user", "content": 42}]}), JSON),
    ("content-null", _json({"messages": [{"role": "user", "content": None}]}), JSON),
    (
        # Content parts are taken (tests/integration/test_attachment_turns.py), but an image
        # is never fetched from a URL.
        "content-part-url",
        _json(
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
                        ],
                    }
                ]
            }
        ),
        JSON,
    ),
    (
        "last-from-assistant",
        _json({"messages": [USER, {"role": "assistant", "content": "Hi!"}]}),
        JSON,
    ),
    ("last-is-system", _json({"messages": [{"role": "system", "content": "Be nice"}]}), JSON),
    ("empty-question", _json({"messages": [{"role": "user", "content": ""}]}), JSON),
    ("blank-question", _json({"messages": [{"role": "user", "content": " \n\t "}]}), JSON),
    (
        "body-over-1mb",
        _json({"messages": [USER], "padding": "x" * 1_000_001}),
        JSON,
    ),
    ("too-many-messages", _json({"messages": [USER] * 401}), JSON),
    ("unknown-model", _json({"messages": [USER], "model": "gpt-5-ultra"}), JSON),
    ("model-not-a-string", _json({"messages": [USER], "model": 4}), JSON),
    ("temperature-3", _json({"messages": [USER], "temperature": 3}), JSON),
    ("temperature-negative", _json({"messages": [USER], "temperature": -0.5}), JSON),
    ("temperature-string", _json({"messages": [USER], "temperature": "hot"}), JSON),
    ("snapshots-string", _json({"messages": [USER], "snapshots": "yes"}), JSON),
    (
        "temperature-nan",
        b'{"messages": [{"role": "user", "content": "Hi"}], "temperature": NaN}',
        JSON,
    ),
    # Python's json reads these, but JSON has no such numbers (even in a field that is ignored).
    ("nan-extra-field", b'{"messages": [{"role": "user", "content": "Hi"}], "x": NaN}', JSON),
    ("infinity", b'{"messages": [{"role": "user", "content": "Hi"}], "top_p": -Infinity}', JSON),
    ("number-out-of-range", b'{"messages": [{"role": "user", "content": "Hi"}], "x": 1e400}', JSON),
    # Valid JSON syntax, but nested deeper than a recursive parser can follow.
    ("deeply-nested-array", b"[" * 100_000, JSON),
    (
        "deeply-nested-extra-field",
        b'{"messages": [{"role": "user", "content": "Hi"}], "x": '
        + b"[" * 5_000
        + b"]" * 5_000
        + b"}",
        JSON,
    ),
    # A JSON escape for half a UTF-16 surrogate pair: parses, but is no text at all.
    ("lone-surrogate", b'{"messages": [{"role": "user", "content": "Hi \\ud800"}]}', JSON),
]


def post(client, route: str, body: bytes, content_type: str | None):
    headers = {} if content_type is None else {"Content-Type": content_type}
    return client.post(route, data=body, headers=headers)


def assert_invalid_request(response) -> dict:
    """A 400 with a JSON `{"error": {"message", "type": "invalid_request"}}` and no internals."""
    text = response.get_data(as_text=True)
    assert response.status_code == 400, text[:300]
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["type"] == "invalid_request"
    assert isinstance(error["message"], str) and error["message"].strip()
    assert "Traceback" not in text
    assert 'File "' not in text
    assert TEST_KEY not in text
    return error


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("body", "content_type"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_request_is_refused(client, fake, route, body, content_type) -> None:
    response = post(client, route, body, content_type)

    assert_invalid_request(response)
    assert fake.requests == []


@pytest.mark.parametrize("route", ROUTES)
def test_question_over_max_input_chars(make_app, fake, route) -> None:
    client = make_app(max_input_chars=20).server.test_client()
    too_long = {"messages": [{"role": "user", "content": "é" * 21}]}

    error = assert_invalid_request(client.post(route, json=too_long))

    assert "20" in error["message"]
    assert fake.requests == []
    # Exactly at the limit is fine (characters, not UTF-8 bytes), and so is a long history.
    history = [{"role": "user", "content": "x" * 100}, {"role": "assistant", "content": "ok"}]
    at_limit = {"messages": [*history, {"role": "user", "content": "é" * 20}]}
    response = client.post(route, json=at_limit)
    assert response.status_code == 200
    assert len(fake.requests) == 1


@pytest.mark.parametrize("route", ROUTES)
def test_messages_explain_the_problem(client, fake, route) -> None:
    cases = {
        "Content-Type": post(client, route, _json({"messages": [USER]}), "text/plain"),
        "JSON": post(client, route, b"{oops", JSON),
        "role": client.post(
            route, json={"messages": [USER, {"role": "assistant", "content": "x"}]}
        ),
        "gpt-5-ultra": client.post(route, json={"messages": [USER], "model": "gpt-5-ultra"}),
        "empty": client.post(route, json={"messages": [{"role": "user", "content": "  "}]}),
    }

    for expected, response in cases.items():
        assert expected in assert_invalid_request(response)["message"]
    assert fake.requests == []


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (_json({"messages": [USER]}), JSON),
        (_json({"messages": [USER]}), "application/json; charset=utf-8"),
        (_json({"messages": [USER]}), "Application/JSON"),
        (_json({"messages": [USER], "temperature": 2, "model": "gpt-4o-mini"}), JSON),
        (_json({"messages": [USER], "unknown_field": True}), JSON),
        (_json({"messages": [{**USER, "name": "ann"}]}), JSON),
    ],
    ids=["plain", "charset", "case", "edge-values", "extra-field", "extra-message-field"],
)
def test_valid_request_is_accepted(client, fake, route, body, content_type) -> None:
    # The control group: the same client and checks accept a request that is fine.
    response = post(client, route, body, content_type)

    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert len(fake.requests) == 1
    sent = fake.requests[0].body["messages"]
    assert [{"role": m["role"], "content": m["content"]} for m in sent] == [USER]


@pytest.mark.parametrize("route", ROUTES)
def test_body_just_under_the_limit_is_accepted(client, fake, route) -> None:
    body = _json({"messages": [USER], "padding": ""})
    body = _json({"messages": [USER], "padding": "x" * (1_000_000 - len(body))})
    assert len(body) == 1_000_000

    response = post(client, route, body, JSON)

    assert response.status_code == 200
    assert len(fake.requests) == 1


@pytest.mark.parametrize("route", ROUTES)
def test_bad_request_over_real_http(live_server, fake, route) -> None:
    # Through a real server too: an oversized body is refused with a readable 400, and the
    # connection or the next request is not wedged by the bytes the app did not read.
    big = _json({"messages": [USER], "padding": "x" * 1_500_000})
    with live_server() as server:
        url = urlsplit(server.url)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        try:
            conn.request("POST", route, big, headers={"Content-Type": JSON})
            response = conn.getresponse()
            status, body = response.status, response.read()
        except (BrokenPipeError, ConnectionResetError):
            pytest.fail("the server dropped the connection instead of answering 400")
        finally:
            conn.close()
        assert status == 400
        assert json.loads(body)["error"]["type"] == "invalid_request"

        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        conn.request("POST", route, _json({"messages": [USER]}), headers={"Content-Type": JSON})
        assert conn.getresponse().status == 200
        conn.close()
    assert len(fake.requests) == 1


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1E+999"])
def test_gateway_refuses_numbers_json_cannot_carry(make_app, fake, number) -> None:
    # Regression: the gateway passed NaN/Infinity parameters on, the openai SDK could not
    # serialise them, and the client got a 500 (test_api_fuzz.py's raw-body test finds it too).
    client = make_app(gateway_api_keys="gw-token").server.test_client()
    user = '{"role": "user", "content": "Hi"}'
    body = f'{{"model": "gpt-4o-mini", "messages": [{user}], "temperature": {number}}}'

    response = client.post(
        "/v1/chat/completions",
        data=body,
        headers={"Content-Type": JSON, "Authorization": "Bearer gw-token"},
    )

    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    error = response.get_json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "JSON" in error["message"] or "out of range" in error["message"]
    assert fake.requests == []


def test_every_message_has_a_length_limit(client):
    from api.schemas import MAX_MESSAGE_CHARS

    history = [
        {"role": "user", "content": "earlier"},
        {"role": "assistant", "content": "x" * (MAX_MESSAGE_CHARS + 1)},
        {"role": "user", "content": "and now?"},
    ]
    response = client.post("/api/chat", json={"messages": history})
    assert response.status_code == 400
    assert "messages.1.content" in response.get_json()["error"]["message"]
    history[1]["content"] = "x" * MAX_MESSAGE_CHARS
    assert client.post("/api/chat", json={"messages": history}).status_code == 200
