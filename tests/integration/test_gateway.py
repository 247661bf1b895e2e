"""The OpenAI-compatible gateway, driven by the official `openai` SDK as its client.

Client (openai.OpenAI) -> real threaded HTTP server with the app -> the app's Azure client ->
FakeUpstream speaking Azure. What the client sees is what any OpenAI-only tool would see; what
the fake records is what Azure would receive.
"""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

import openai
import pytest
from werkzeug.test import EnvironBuilder

from chat_app import create_app
from tests.conftest import TEST_KEY, LiveServer, settings_for
from tests.fake_upstream import Cut, Error, Hang, Reply

TOKENS = ("gw-token-1", "gw-token-2")
AZURE = {
    "azure_openai_endpoint": None,  # filled in per test from the fake
    "azure_openai_api_key": TEST_KEY,
    "openai_api_version": "2024-10-21",
    "azure_openai_model_mapper": "gpt-4o=my-gpt4o,gpt-35-turbo=my-gpt35",
    "openai_model": "gpt-4o",
    "gateway_api_keys": ",".join(TOKENS),
}
USER = [{"role": "user", "content": "Say hello."}]
TEXT = "你好，世界！Hello 👋🏽 — 再见 🎉"


@pytest.fixture(scope="module")
def azure_gateway(upstream):
    """A served app whose single provider is the fake, as Azure, with the gateway on.

    One server for the module (each test still gets a reset fake through `fake`): stopping a
    LiveServer takes up to half a second.
    """
    settings = settings_for(upstream, **{**AZURE, "azure_openai_endpoint": upstream.azure_endpoint})
    with LiveServer(create_app(settings).server) as server:
        yield server


def sdk(server, token: str = TOKENS[0]) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=token, max_retries=0)


def raw_request(
    server, method: str, path: str, body: str | None = None, headers: dict | None = None
) -> tuple[int, str]:
    """One plain HTTP request to `server`: (status, body text)."""
    url = urlsplit(server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.request(method, path, body, headers=headers or {})
    response = conn.getresponse()
    text = response.read().decode("utf-8")
    conn.close()
    return response.status, text


def raw_post(server, body: dict | str, token: str = TOKENS[0]) -> tuple[int, str]:
    """POST /v1/chat/completions over plain HTTP: (status, body text)."""
    data = body if isinstance(body, str) else json.dumps(body)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    return raw_request(server, "POST", "/v1/chat/completions", data, headers)


def sse_events(body: str) -> list[str]:
    """The `data:` payloads of an SSE body; every event must be one complete `data:` line."""
    assert body.endswith("data: [DONE]\n\n"), f"not terminated: {body[-80:]!r}"
    events = []
    for block in body[: -len("\n\n")].split("\n\n"):
        assert block.startswith("data: ") and "\n" not in block, f"bad event: {block!r}"
        events.append(block[len("data: ") :])
    assert events.count("[DONE]") == 1
    return events


# --------------------------------------------------------------------------- off and auth


def test_gateway_off_is_not_found(live_server, fake) -> None:
    with live_server() as server:
        client = sdk(server)
        with pytest.raises(openai.NotFoundError) as listed:
            client.models.list()
        with pytest.raises(openai.NotFoundError) as asked:
            client.chat.completions.create(model="gpt-4o-mini", messages=USER)

    for exc in (listed.value, asked.value):
        assert exc.code == "not_found"
        assert exc.type == "invalid_request_error"
    assert fake.requests == []


@pytest.mark.parametrize("token", ["wrong-token", "gw-token-1x", "gw-token"])
def test_wrong_token_is_refused(azure_gateway, fake, token) -> None:
    client = sdk(azure_gateway, token)
    with pytest.raises(openai.AuthenticationError) as listed:
        client.models.list()
    with pytest.raises(openai.AuthenticationError) as asked:
        client.chat.completions.create(model="gpt-4o", messages=USER)

    for exc in (listed.value, asked.value):
        assert exc.status_code == 401
        assert exc.code == "invalid_api_key"
        assert exc.type == "invalid_request_error"
        assert token not in exc.response.text
    assert fake.requests == []


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": f"Basic {TOKENS[0]}"}, {"Authorization": "Bearer "}]
)
def test_missing_token_is_refused(azure_gateway, fake, headers) -> None:
    for method, path in [("GET", "/v1/models"), ("POST", "/v1/chat/completions")]:
        body = json.dumps({"model": "gpt-4o", "messages": USER}) if method == "POST" else None
        status, text = raw_request(
            azure_gateway, method, path, body, {**headers, "Content-Type": "application/json"}
        )
        assert status == 401
        assert json.loads(text)["error"]["code"] == "invalid_api_key"
        assert TOKENS[0] not in text
    assert fake.requests == []


@pytest.mark.parametrize("token", TOKENS)
def test_every_configured_token_works(azure_gateway, token) -> None:
    models = sdk(azure_gateway, token).models.list()

    assert [m.id for m in models.data] == ["gpt-4o", "gpt-35-turbo"]
    assert {m.owned_by for m in models.data} == {"azure"}
    assert all(m.object == "model" for m in models.data)


# --------------------------------------------------------------------------- chat, not streamed


def test_chat_through_azure(azure_gateway, fake) -> None:
    fake.script(Reply(TEXT, usage={"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}))

    completion = sdk(azure_gateway, TOKENS[1]).chat.completions.create(
        model="gpt-4o", messages=USER, temperature=0.3, seed=7, extra_body={"bogus": True}
    )

    assert completion.choices[0].message.content == TEXT
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "gpt-4o"
    assert completion.usage.total_tokens == 14
    (request,) = fake.requests
    assert request.path == "/openai/deployments/my-gpt4o/chat/completions"
    assert request.deployment == "my-gpt4o"
    assert request.query["api-version"] == "2024-10-21"
    assert request.headers["api-key"] == TEST_KEY
    assert all(token not in json.dumps(request.headers) for token in TOKENS)
    assert request.body["messages"] == USER
    assert request.body["temperature"] == 0.3
    assert request.body["seed"] == 7
    assert "bogus" not in request.body


def test_each_model_goes_to_its_deployment(azure_gateway, fake) -> None:
    completion = sdk(azure_gateway).chat.completions.create(model="gpt-35-turbo", messages=USER)

    assert completion.model == "gpt-35-turbo"
    assert fake.requests[0].deployment == "my-gpt35"


def test_unknown_model_is_not_found(azure_gateway, fake) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        sdk(azure_gateway).chat.completions.create(model="my-gpt4o", messages=USER)

    assert caught.value.code == "model_not_found"
    assert "gpt-4o" in caught.value.message
    assert fake.requests == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ("{not json", None),
        ("[1, 2]", None),
        ('{"messages": [{"role": "user", "content": "\\ud800"}], "model": "gpt-4o"}', None),
        ({"messages": USER}, "model"),
        ({"model": "gpt-4o", "messages": []}, "messages"),
        ({"model": "gpt-4o", "messages": "hi"}, "messages"),
        ({"model": "gpt-4o", "messages": USER, "stream": "yes"}, "stream"),
    ],
)
def test_invalid_bodies_are_400(azure_gateway, fake, body, param) -> None:
    status, text = raw_post(azure_gateway, body)

    assert status == 400
    error = json.loads(text)["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"]
    assert fake.requests == []


def test_body_must_be_json_and_at_most_1_mb(azure_gateway, fake) -> None:
    auth = {"Authorization": f"Bearer {TOKENS[0]}"}
    body = json.dumps({"model": "gpt-4o", "messages": USER})
    huge = json.dumps({"model": "gpt-4o", "messages": USER, "user": "x" * 1_000_001})

    as_text = raw_request(
        azure_gateway, "POST", "/v1/chat/completions", body, {**auth, "Content-Type": "text/plain"}
    )
    too_big = raw_post(azure_gateway, huge)

    for status, text in (as_text, too_big):
        assert status == 400
        assert json.loads(text)["error"]["type"] == "invalid_request_error"
    assert "Content-Type" in json.loads(as_text[1])["error"]["message"]
    assert "larger than" in json.loads(too_big[1])["error"]["message"]
    assert fake.requests == []


def test_missing_azure_key_is_503(live_server, fake, monkeypatch) -> None:
    monkeypatch.delenv("AZURE_OPENAI_API_KEY", raising=False)
    overrides = {
        **AZURE,
        "azure_openai_endpoint": fake.azure_endpoint,
        "azure_openai_api_key": None,
    }
    with live_server(**overrides) as server, pytest.raises(openai.InternalServerError) as caught:
        sdk(server).chat.completions.create(model="gpt-4o", messages=USER)

    assert caught.value.status_code == 503
    assert caught.value.code == "missing_api_key"
    assert fake.requests == []


# --------------------------------------------------------------------------- streaming


@pytest.mark.parametrize("include_usage", [True, False])
def test_stream_through_azure(azure_gateway, fake, include_usage) -> None:
    fake.script(Reply(TEXT, chunk_size=3, usage={"prompt_tokens": 9, "completion_tokens": 5}))
    options = {"stream_options": {"include_usage": True}} if include_usage else {}

    stream = sdk(azure_gateway).chat.completions.create(
        model="gpt-4o", messages=USER, stream=True, **options
    )
    chunks = list(stream)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == TEXT
    assert {c.model for c in chunks} == {"gpt-4o"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = [c.usage for c in chunks if c.usage is not None]
    if include_usage:
        assert len(usage) == 1 and usage[0].completion_tokens == 5
        assert chunks[-1].choices == [] and chunks[-1].usage is not None
        assert fake.requests[0].body["stream_options"] == {"include_usage": True}
    else:
        assert usage == []
        assert "stream_options" not in fake.requests[0].body
    assert fake.requests[0].deployment == "my-gpt4o"


def test_stream_wire_format(azure_gateway, fake) -> None:
    fake.script(Reply(TEXT, chunk_size=2, last_event_without_blank_line=True))
    body = {"model": "gpt-4o", "messages": USER, "stream": True}

    status, text = raw_post(azure_gateway, body)

    assert status == 200
    *chunks, done = sse_events(text)
    assert done == "[DONE]"
    parsed = [json.loads(chunk) for chunk in chunks]
    assert all(p["object"] == "chat.completion.chunk" and p["model"] == "gpt-4o" for p in parsed)
    assert "".join(p["choices"][0]["delta"].get("content", "") for p in parsed) == TEXT
    # Raw UTF-8 on the wire, like OpenAI: no \\u escapes.
    assert "你好" in text


def test_cut_stream_keeps_the_text_then_raises(azure_gateway, fake) -> None:
    fake.script(Cut("Half a rep", chunk_size=3), Cut("Half a rep", chunk_size=3))
    stream = sdk(azure_gateway).chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    parts = []

    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            parts.append(chunk.choices[0].delta.content or "")

    assert "".join(parts) == "Half a rep"
    assert caught.value.code == "stream_cut"
    assert "cut" in caught.value.message
    # On the wire: the error is a complete event, and [DONE] still ends the stream.
    status, text = raw_post(azure_gateway, {"model": "gpt-4o", "messages": USER, "stream": True})
    assert status == 200
    *_, error, done = sse_events(text)
    assert json.loads(error)["error"]["code"] == "stream_cut"
    assert done == "[DONE]"


def test_stream_that_never_finishes_is_reported(azure_gateway, fake) -> None:
    # A clean end of body without any finish_reason: the reply is incomplete.
    fake.script(Reply("Half", finish_reason=None))
    stream = sdk(azure_gateway).chat.completions.create(model="gpt-4o", messages=USER, stream=True)

    with pytest.raises(openai.APIError) as caught:
        list(stream)

    assert caught.value.code == "stream_cut"


def test_client_leaving_closes_the_upstream_stream(azure_gateway, fake) -> None:
    fake.script(Reply("word " * 200, chunk_size=5, delay=0.1))
    stream = sdk(azure_gateway).chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    next(stream)  # the role chunk
    (request,) = fake.wait_for_requests(1)
    assert not request.client_disconnected.is_set()

    stream.close()

    assert request.client_disconnected.wait(5), "upstream still streaming to nobody"
    assert not request.finished.is_set()


def test_response_closed_unread_closes_the_upstream(fake) -> None:
    # A WSGI server may close the response without iterating it (say, the client left while
    # headers were sent): the body generator then never starts, so it cannot clean up itself.
    settings = settings_for(fake, **{**AZURE, "azure_openai_endpoint": fake.azure_endpoint})
    app = create_app(settings).server
    fake.script(Reply("word " * 200, chunk_size=5, delay=0.1))
    environ = EnvironBuilder(
        method="POST",
        path="/v1/chat/completions",
        json={"model": "gpt-4o", "messages": USER, "stream": True},
        headers={"Authorization": f"Bearer {TOKENS[0]}"},
    ).get_environ()
    statuses = []
    body = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    assert statuses == ["200 OK"]
    (request,) = fake.wait_for_requests(1)

    body.close()

    assert request.client_disconnected.wait(5), "upstream still streaming to nobody"


# --------------------------------------------------------------------------- upstream errors


@pytest.mark.parametrize("stream", [False, True])
def test_rate_limit_is_passed_on(azure_gateway, fake, stream) -> None:
    fake.script(Error(429, "Rate limit reached for my-gpt4o", "requests", "rate_limit_exceeded"))

    with pytest.raises(openai.RateLimitError) as caught:
        sdk(azure_gateway).chat.completions.create(model="gpt-4o", messages=USER, stream=stream)

    assert caught.value.status_code == 429
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.type == "requests"
    assert caught.value.body["message"] == "Rate limit reached for my-gpt4o"


@pytest.mark.parametrize("stream", [False, True])
def test_content_filter_is_passed_on(azure_gateway, fake, stream) -> None:
    fake.script(Error(400, "The prompt was filtered", "invalid_request_error", "content_filter"))

    with pytest.raises(openai.BadRequestError) as caught:
        sdk(azure_gateway).chat.completions.create(model="gpt-4o", messages=USER, stream=stream)

    assert caught.value.code == "content_filter"
    assert caught.value.body["message"] == "The prompt was filtered"


@pytest.fixture(scope="module")
def retrying_gateway(upstream):
    """`azure_gateway` with OPENAI_MAX_RETRIES=2."""
    settings = settings_for(
        upstream,
        **{**AZURE, "azure_openai_endpoint": upstream.azure_endpoint, "openai_max_retries": 2},
    )
    with LiveServer(create_app(settings).server) as server:
        yield server


OVERLOADED = Error(503, "The engine is currently overloaded", "server_error")


@pytest.mark.parametrize("stream", [False, True])
def test_a_server_error_is_retried_as_for_the_page(retrying_gateway, fake, stream) -> None:
    fake.script(OVERLOADED, Reply("Second try."))

    reply = sdk(retrying_gateway).chat.completions.create(
        model="gpt-4o", messages=USER, stream=stream
    )

    text = (
        "".join(c.choices[0].delta.content or "" for c in reply if c.choices)
        if stream
        else reply.choices[0].message.content
    )
    assert text == "Second try."
    assert len(fake.requests) == 2


@pytest.mark.parametrize("stream", [False, True])
def test_at_most_one_attempt_plus_the_retries(retrying_gateway, fake, stream) -> None:
    fake.script(*[OVERLOADED] * 4)

    with pytest.raises(openai.InternalServerError) as caught:
        sdk(retrying_gateway).chat.completions.create(model="gpt-4o", messages=USER, stream=stream)

    assert caught.value.status_code == 503
    assert len(fake.requests) == 3
    assert fake.pending == 1


def test_a_long_retry_after_is_passed_on_not_waited(retrying_gateway, fake) -> None:
    fake.script(
        Error(429, "Rate limit reached", "requests", "rate_limit_exceeded", {"retry-after": "120"}),
        Reply("Never asked for."),
    )

    start = time.monotonic()
    with pytest.raises(openai.RateLimitError) as caught:
        sdk(retrying_gateway).chat.completions.create(model="gpt-4o", messages=USER)

    assert time.monotonic() - start < 10
    assert caught.value.response.headers["retry-after"] == "120"
    assert len(fake.requests) == 1


def test_upstream_auth_error_is_passed_on_without_the_key(azure_gateway, fake) -> None:
    message = f"Access denied due to invalid subscription key {TEST_KEY}."
    fake.script(Error(401, message, "invalid_request_error", "401"))

    with pytest.raises(openai.AuthenticationError) as caught:
        sdk(azure_gateway).chat.completions.create(model="gpt-4o", messages=USER)

    assert caught.value.status_code == 401
    assert TEST_KEY not in caught.value.response.text
    assert caught.value.body["message"].startswith("Access denied due to invalid subscription")
    assert "[hidden]" in caught.value.body["message"]


def test_upstream_timeout_is_504(live_server, fake) -> None:
    fake.script(Hang(3))
    overrides = {**AZURE, "azure_openai_endpoint": fake.azure_endpoint, "openai_timeout": 0.5}
    with live_server(**overrides) as server, pytest.raises(openai.InternalServerError) as caught:
        sdk(server).chat.completions.create(model="gpt-4o", messages=USER)

    assert caught.value.status_code == 504
    assert caught.value.code == "timeout"
    assert fake.requests[0].client_disconnected.wait(5)


# --------------------------------------------------------------------------- plain OpenAI


def test_plain_openai_upstream(live_server, fake) -> None:
    with live_server(gateway_api_keys="t") as server:
        client = sdk(server, "t")
        assert [m.id for m in client.models.list().data] == ["gpt-4o-mini"]
        completion = client.chat.completions.create(model="gpt-4o-mini", messages=USER)
        chunks = list(
            client.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True)
        )

    assert completion.choices[0].message.content == "Echo: Say hello."
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Echo: Say hello."
    assert [r.path for r in fake.requests] == ["/v1/chat/completions"] * 2
    assert fake.requests[0].headers["authorization"] == f"Bearer {TEST_KEY}"
    assert fake.requests[0].body["model"] == "gpt-4o-mini"
