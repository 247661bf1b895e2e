"""Tests for tests/fake_upstream.py, driven through the real ``openai`` SDK over real HTTP.

They prove the fake speaks the Chat Completions wire format well enough for the SDK to parse
it, and that every failure mode the fake offers reaches the SDK as the matching exception.
"""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx2
import openai
import pytest

from tests.fake_upstream import Cut, Error, FakeUpstream, Hang, Reply

KEY = "test-key"
MODEL = "gpt-4o-mini"
USER = [{"role": "user", "content": "Hi there"}]
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    """One server for the module; each test starts from an empty queue and record."""
    with FakeUpstream(api_key=KEY) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(fake: FakeUpstream) -> None:
    fake.reset()


@pytest.fixture
def client(fake: FakeUpstream) -> Iterator[openai.OpenAI]:
    # A short timeout keeps a broken fake from stalling the suite.
    with openai.OpenAI(base_url=fake.base_url, api_key=KEY, max_retries=0, timeout=5) as c:
        yield c


@pytest.fixture
def azure(fake: FakeUpstream) -> Iterator[openai.AzureOpenAI]:
    with openai.AzureOpenAI(
        azure_endpoint=fake.azure_endpoint,
        api_key=KEY,
        api_version="2024-10-21",
        max_retries=0,
        timeout=5,
    ) as c:
        yield c


def _stream(client: openai.OpenAI, **kwargs: object) -> openai.Stream:
    return client.chat.completions.create(model=MODEL, messages=USER, stream=True, **kwargs)


def _raw(
    fake: FakeUpstream, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, bytes]:
    """Send one request with the standard library, bypassing the SDK's own checks."""
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# --------------------------------------------------------------------------- streaming


TEXTS = [
    "Hello, world! This is a streamed answer.",
    "你好，世界！这是一个流式回答。",
    "Emoji 👍🏽 family 👨‍👩‍👧 flag 🇫🇷 done",
]


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7])
def test_stream_reassembles_text_exactly(
    fake: FakeUpstream, client: openai.OpenAI, text: str, chunk_size: int
) -> None:
    fake.script(Reply(text, chunk_size=chunk_size))

    chunks = list(_stream(client))

    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    pieces = [c.choices[0].delta.content for c in chunks[1:-1]]
    assert pieces == [text[i : i + chunk_size] for i in range(0, len(text), chunk_size)]
    assert "".join(pieces) == text
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.object == "chat.completion.chunk" and c.model == MODEL for c in chunks)
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-fake")
    # No usage chunk unless stream_options asked for one.
    assert all(c.usage is None for c in chunks)


def test_stream_usage_chunk_when_include_usage(fake: FakeUpstream, client: openai.OpenAI) -> None:
    usage = {"prompt_tokens": 11, "completion_tokens": 22, "total_tokens": 33}
    fake.script(Reply("Counted", usage=usage, finish_reason="length"), Reply("x" * 40))

    chunks = list(_stream(client, stream_options={"include_usage": True}))

    assert chunks[-2].choices[0].finish_reason == "length"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.model_dump(include={"prompt_tokens", "completion_tokens"}) == {
        "prompt_tokens": 11,
        "completion_tokens": 22,
    }
    assert chunks[-1].usage.total_tokens == 33

    # Computed usage: "Hi there" is 8 chars -> 2 prompt tokens; 40 chars -> 10 completion.
    last = list(_stream(client, stream_options={"include_usage": True}))[-1]
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (2, 10)
    assert last.usage.total_tokens == 12


def test_stream_role_chunk_can_be_omitted(fake: FakeUpstream, client: openai.OpenAI) -> None:
    fake.script(Reply("abcdef", chunk_size=3, role_chunk=False))

    chunks = list(_stream(client))

    assert [c.choices[0].delta.content for c in chunks] == ["abc", "def", None]
    assert chunks[0].choices[0].delta.role is None


def test_stream_wire_framing_is_one_event_per_http_chunk(fake: FakeUpstream) -> None:
    # Read the raw socket: the SDK would hide a framing mistake that it happens to tolerate.
    fake.script(Reply("héllo wörld", chunk_size=5))
    body = json.dumps({"model": MODEL, "messages": USER, "stream": True}).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", fake.port), timeout=5) as sock:
        sock.sendall(head + body)
        data = b""
        while not data.endswith(b"\r\n0\r\n\r\n"):
            more = sock.recv(65536)
            assert more, f"connection closed before the terminating chunk: {data!r}"
            data += more

    headers, _, rest = data.partition(b"\r\n\r\n")
    assert headers.startswith(b"HTTP/1.1 200")
    assert b"transfer-encoding: chunked" in headers.lower()
    assert b"content-type: text/event-stream" in headers.lower()
    events = []
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        events.append(rest[:size])
        assert rest[size : size + 2] == b"\r\n"
        rest = rest[size + 2 :]
    assert rest == b"\r\n"
    assert all(e.startswith(b"data: ") and e.endswith(b"\n\n") for e in events)
    assert events[-1] == b"data: [DONE]\n\n"
    # role + 3 pieces ("héllo", " wörl", "d") + finish + [DONE]
    assert len(events) == 6
    assert "héllo".encode() in events[1]  # raw UTF-8, like OpenAI


def test_last_event_without_blank_line(fake: FakeUpstream, client: openai.OpenAI) -> None:
    fake.script(Reply("abc def", last_event_without_blank_line=True))

    chunks = list(_stream(client))

    # Observed with openai 3.52.0: the SDK never dispatches the unterminated "[DONE]" event
    # (its SSE decoder needs the blank line), but the body ends cleanly, so iteration just
    # stops. No exception, and every earlier event is delivered.
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "abc def"
    assert chunks[-1].choices[0].finish_reason == "stop"

    # The flag must really change the wire bytes, or the test above proves nothing.
    fake.script(Reply("abc", last_event_without_blank_line=True))
    payload = json.dumps({"model": MODEL, "messages": USER, "stream": True}).encode()
    status, body = _raw(fake, "POST", "/v1/chat/completions", payload, **AUTH)
    assert status == 200
    assert body.endswith(b"}\n\ndata: [DONE]\n")


def _raw_stream(fake: FakeUpstream, reply: Reply, *, usage: bool, **headers: str) -> bytes:
    """The raw (de-chunked) body of one streamed reply; http.client insists on a clean end."""
    fake.script(reply)
    request: dict = {"model": MODEL, "messages": USER, "stream": True}
    if usage:
        request["stream_options"] = {"include_usage": True}
    status, body = _raw(
        fake, "POST", "/v1/chat/completions", json.dumps(request).encode(), **AUTH, **headers
    )
    assert status == 200
    return body


def _data(line: bytes) -> dict:
    assert line.startswith(b"data: "), line
    return json.loads(line[len(b"data: ") :])


@pytest.mark.parametrize("usage", [False, True])
def test_final_chunk_without_blank_line(fake: FakeUpstream, usage: bool) -> None:
    body = _raw_stream(fake, Reply("abc", final_chunk_without_blank_line=True), usage=usage)

    # Every event before the finish chunk is terminated; the finish chunk ends the body with a
    # single newline, and no [DONE] is ever sent.
    *events, last = body.split(b"\n\n")
    assert b"[DONE]" not in body
    assert last.endswith(b"}\n") and last.count(b"\n") == 1
    final = _data(last[:-1])
    assert final["choices"][0]["finish_reason"] == "stop"
    if usage:
        assert final["usage"]["completion_tokens"] >= 1
    else:
        assert "usage" not in final
    content = [_data(e)["choices"][0]["delta"].get("content") for e in events]
    assert "".join(c or "" for c in content) == "abc"
    assert all(_data(e)["choices"][0]["finish_reason"] is None for e in events)
    assert fake.requests[0].finished.wait(2)


@pytest.mark.parametrize("usage", [False, True])
def test_content_then_done_without_separator(fake: FakeUpstream, usage: bool) -> None:
    body = _raw_stream(fake, Reply("abc", content_then_done_without_separator=True), usage=usage)

    assert body.endswith(b"}\ndata: [DONE]\n\n")
    *events, merged, tail = body.split(b"\n\n")
    assert tail == b""
    unterminated, done = merged.split(b"\n")
    assert done == b"data: [DONE]"
    if usage:
        assert _data(unterminated)["choices"] == []
        assert _data(unterminated)["usage"]["completion_tokens"] >= 1
        # The finish chunk itself is still a complete event.
        assert _data(events[-1])["choices"][0]["finish_reason"] == "stop"
    else:
        assert _data(unterminated)["choices"][0]["finish_reason"] == "stop"
    content = [_data(e)["choices"][0]["delta"].get("content") for e in events if b"choices" in e]
    assert "".join(c or "" for c in content) == "abc"


def test_framing_quirks_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="pick one"):
        Reply("x", final_chunk_without_blank_line=True, content_then_done_without_separator=True)


def test_gzip_stream_is_compressed_only_when_accepted(fake: FakeUpstream) -> None:
    accept = {"Accept-Encoding": "gzip, deflate"}
    compressed = _raw_stream(fake, Reply("zip me", gzip=True), usage=False, **accept)
    plain = _raw_stream(fake, Reply("zip me", gzip=True), usage=False)

    assert b"data:" not in compressed
    for body in (gzip.decompress(compressed), plain):
        assert body.endswith(b"}\n\ndata: [DONE]\n\n")
        events = [_data(e) for e in body.split(b"\n\n")[:-2]]
        assert "".join(e["choices"][0]["delta"].get("content", "") for e in events) == "zip me"
        assert events[-1]["choices"][0]["finish_reason"] == "stop"


# --------------------------------------------------------------------------- non-streaming


def test_non_streaming_completion(fake: FakeUpstream, client: openai.OpenAI) -> None:
    fake.script(Reply("Plain answer 你好", finish_reason="length"))

    resp = client.chat.completions.create(model="gpt-4.1", messages=USER)

    assert resp.object == "chat.completion"
    assert resp.id.startswith("chatcmpl-fake")
    assert resp.model == "gpt-4.1"
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].message.content == "Plain answer 你好"
    assert resp.choices[0].finish_reason == "length"
    # 14 chars -> 3 completion tokens; "Hi there" -> 2 prompt tokens.
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (2, 3)
    assert resp.usage.total_tokens == 5


def test_default_scenario_echoes_last_user_message(
    fake: FakeUpstream, client: openai.OpenAI
) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "second 🙂"}]},
    ]

    resp = client.chat.completions.create(model=MODEL, messages=messages)
    streamed = client.chat.completions.create(model=MODEL, messages=messages, stream=True)

    assert resp.choices[0].message.content == "Echo: second 🙂"
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == "Echo: second 🙂"


def test_scenarios_are_consumed_in_order(fake: FakeUpstream, client: openai.OpenAI) -> None:
    fake.script(Reply("one"), Reply("two"))
    fake.script(Error(500, "three", "server_error"))

    first = client.chat.completions.create(model=MODEL, messages=USER)
    second = "".join(c.choices[0].delta.content or "" for c in _stream(client))
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=MODEL, messages=USER)
    fourth = client.chat.completions.create(model=MODEL, messages=USER)

    assert (first.choices[0].message.content, second) == ("one", "two")
    assert fourth.choices[0].message.content == "Echo: Hi there"
    assert fake.pending == 0


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("scenario", "exc_class"),
    [
        (Error(401, "Bad key", "invalid_request_error", "invalid_api_key"), "AuthenticationError"),
        (Error(429, "Rate limit reached", "rate_limit_exceeded"), "RateLimitError"),
        (Error(500, "boom", "server_error"), "InternalServerError"),
        (Error(400, "Filtered by policy", code="content_filter"), "BadRequestError"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_error_status_maps_to_sdk_exception(
    fake: FakeUpstream, client: openai.OpenAI, scenario: Error, exc_class: str, stream: bool
) -> None:
    fake.script(scenario)

    with pytest.raises(getattr(openai, exc_class)) as info:
        client.chat.completions.create(model=MODEL, messages=USER, stream=stream)

    err = info.value
    assert err.status_code == scenario.status
    assert scenario.message in err.message
    assert err.body["message"] == scenario.message
    assert err.type == scenario.type
    assert err.code == scenario.code
    assert err.request_id is not None and err.request_id.startswith("req_fake")


def test_error_extra_headers_reach_the_client(fake: FakeUpstream, client: openai.OpenAI) -> None:
    fake.script(Error(429, "slow down", "rate_limit_exceeded", headers={"retry-after": "7"}))

    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model=MODEL, messages=USER)

    assert info.value.response.headers["retry-after"] == "7"


def test_wrong_key_is_rejected_without_consuming_a_scenario(fake: FakeUpstream) -> None:
    secret = "sk-wrong-key-1234567890"
    fake.script(Reply("kept for later"))
    bad = openai.OpenAI(base_url=fake.base_url, api_key=secret, max_retries=0)
    with bad, pytest.raises(openai.AuthenticationError) as info:
        bad.chat.completions.create(model=MODEL, messages=USER)

    err = info.value
    assert err.status_code == 401
    assert err.code == "invalid_api_key"
    assert "Incorrect API key provided: sk-***7890" in err.message
    assert secret not in str(err.body)
    assert fake.pending == 1
    # The rejected request is still recorded, with the key it sent.
    assert fake.requests[0].headers["authorization"] == f"Bearer {secret}"
    assert not fake.requests[0].client_disconnected.is_set()


def test_fake_without_key_accepts_any_key() -> None:
    with FakeUpstream(api_key=None) as open_fake:
        c = openai.OpenAI(base_url=open_fake.base_url, api_key="anything", max_retries=0)
        with c:
            resp = c.chat.completions.create(model=MODEL, messages=USER)
    assert open_fake.requests[0].headers["authorization"] == "Bearer anything"
    assert resp.choices[0].message.content == "Echo: Hi there"


def test_bad_paths_and_bodies(fake: FakeUpstream) -> None:
    status, body = _raw(fake, "POST", "/v1/nope", b"{}", **AUTH)
    assert status == 404
    assert json.loads(body)["error"]["message"] == "Invalid URL (POST /v1/nope)"

    status, body = _raw(fake, "POST", "/v1/chat/completions", b"{not json", **AUTH)
    assert status == 400
    assert json.loads(body)["error"]["type"] == "invalid_request_error"

    status, body = _raw(fake, "POST", "/openai/deployments/d1/chat/completions", b"{}")
    assert status == 404
    assert json.loads(body)["error"]["message"] == "Resource not found"

    assert [r.path for r in fake.requests] == [
        "/v1/nope",
        "/v1/chat/completions",
        "/openai/deployments/d1/chat/completions",
    ]
    assert fake.requests[1].body is None and fake.requests[1].raw_body == b"{not json"


def test_models_endpoint(fake: FakeUpstream, client: openai.OpenAI) -> None:
    models = client.models.list()

    assert [m.id for m in models.data] == ["gpt-4o-mini"]
    assert fake.requests[0].method == "GET"
    assert fake.requests[0].path == "/v1/models"


# --------------------------------------------------------------------------- Azure


def test_azure_route_header_and_deployment(fake: FakeUpstream, azure: openai.AzureOpenAI) -> None:
    fake.script(Reply("Azure says hi", chunk_size=5))

    stream = azure.chat.completions.create(model="my-deploy", messages=USER, stream=True)
    chunks = list(stream)
    resp = azure.chat.completions.create(model="my-deploy", messages=USER)

    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Azure says hi"
    assert chunks[0].model == "my-deploy"
    assert resp.model == "my-deploy"
    first = fake.requests[0]
    assert first.path == "/openai/deployments/my-deploy/chat/completions"
    assert first.deployment == "my-deploy"
    assert first.query == {"api-version": "2024-10-21"}
    assert first.headers["api-key"] == KEY
    assert "authorization" not in first.headers
    assert first.body["stream"] is True


def test_azure_wrong_key(fake: FakeUpstream) -> None:
    bad = openai.AzureOpenAI(
        azure_endpoint=fake.azure_endpoint, api_key="bad", api_version="2024-10-21", max_retries=0
    )
    with bad, pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="d", messages=USER)
    assert fake.requests[0].deployment == "d"


def test_azure_empty_choices_chunks_are_iterable(
    fake: FakeUpstream, azure: openai.AzureOpenAI
) -> None:
    fake.script(Reply("Filtered but fine", chunk_size=6, empty_choices_chunks=True))

    chunks = list(azure.chat.completions.create(model="dep", messages=USER, stream=True))

    assert chunks[0].choices == []
    assert chunks[0].model_extra["prompt_filter_results"][0]["prompt_index"] == 0
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Filtered but fine"
    content = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert all("content_filter_results" in c.choices[0].model_extra for c in content)


# --------------------------------------------------------------------------- failures


def test_cut_raises_connection_error_after_first_pieces(
    fake: FakeUpstream, client: openai.OpenAI
) -> None:
    fake.script(Cut("Hello world, this answer gets cut", chunk_size=6))
    received: list[str] = []

    # Observed with openai 3.52.0: httpcore2 sees the chunked body end early and raises
    # httpcore2.RemoteProtocolError ("peer closed connection without sending complete message
    # body (incomplete chunked read)"); httpx2 maps it to httpx2.RemoteProtocolError and the
    # SDK's Stream wraps that in openai.APIConnectionError ("Connection error.").
    with pytest.raises(openai.APIConnectionError) as info:
        for chunk in _stream(client):
            received.append(chunk.choices[0].delta.content)

    assert not isinstance(info.value, openai.APITimeoutError)
    assert isinstance(info.value.__cause__, httpx2.RemoteProtocolError)
    assert "incomplete chunked read" in str(info.value.__cause__)
    assert received[0] == ""  # the role chunk
    assert "".join(received) == "Hello world, this answer gets cut"
    record = fake.requests[0]
    assert not record.finished.is_set()

    # The server survives a cut: the SDK reconnects and the next request works.
    fake.script(Reply("after the cut"))
    assert "".join(c.choices[0].delta.content or "" for c in _stream(client)) == "after the cut"


def test_cut_non_streaming_raises_connection_error(
    fake: FakeUpstream, client: openai.OpenAI
) -> None:
    fake.script(Cut("half of a JSON body"))

    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model=MODEL, messages=USER)


def test_hang_makes_client_time_out(fake: FakeUpstream, client: openai.OpenAI) -> None:
    fake.script(Hang(3))
    started = time.monotonic()

    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.5).chat.completions.create(model=MODEL, messages=USER)

    assert time.monotonic() - started < 2
    record = fake.wait_for_requests(1)[0]
    # The fake notices the client closed the socket during the wait and stops early.
    assert record.client_disconnected.wait(2)
    assert not record.finished.is_set()


def test_short_hang_then_echo(fake: FakeUpstream, client: openai.OpenAI) -> None:
    fake.script(Hang(0.3))
    started = time.monotonic()

    resp = client.chat.completions.create(model=MODEL, messages=USER)

    assert time.monotonic() - started >= 0.3
    assert resp.choices[0].message.content == "Echo: Hi there"


def test_client_closing_stream_sets_client_disconnected(
    fake: FakeUpstream, client: openai.OpenAI
) -> None:
    fake.script(Reply("x" * 400, chunk_size=4, delay=0.2))

    stream = _stream(client)
    first = next(iter(stream))
    stream.close()

    assert first.choices[0].delta.role == "assistant"
    record = fake.wait_for_requests(1)[0]
    assert record.client_disconnected.wait(3)
    assert not record.finished.is_set()


def test_finished_is_set_after_complete_stream(fake: FakeUpstream, client: openai.OpenAI) -> None:
    fake.script(Reply("complete", delay=0.01))

    list(_stream(client))

    record = fake.requests[0]
    # The client may read the last bytes before the handler returns from its write: wait.
    assert record.finished.wait(2)
    assert not record.client_disconnected.is_set()


# --------------------------------------------------------------------------- recording


def test_requests_are_recorded_with_bodies(fake: FakeUpstream, client: openai.OpenAI) -> None:
    client.chat.completions.create(model=MODEL, messages=USER, temperature=0.5)
    list(_stream(client, stream_options={"include_usage": True}))

    first, second = fake.wait_for_requests(2)
    assert first.method == "POST"
    assert first.path == "/v1/chat/completions"
    assert first.query == {}
    assert first.deployment is None
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert first.headers["content-type"] == "application/json"
    assert first.body == {"model": MODEL, "messages": USER, "temperature": 0.5}
    assert second.body["stream"] is True
    assert second.body["stream_options"] == {"include_usage": True}


def test_wait_for_requests_times_out(fake: FakeUpstream) -> None:
    with pytest.raises(AssertionError, match="expected >= 1 requests"):
        fake.wait_for_requests(1, timeout=0.1)


def test_reset_clears_queue_and_record(fake: FakeUpstream, client: openai.OpenAI) -> None:
    fake.script(Reply("a"), Reply("b"))
    client.chat.completions.create(model=MODEL, messages=USER)

    fake.reset()

    assert fake.requests == []
    assert fake.pending == 0
    echo = client.chat.completions.create(model=MODEL, messages=USER)
    assert echo.choices[0].message.content == "Echo: Hi there"


def test_keep_alive_reuses_the_connection(fake: FakeUpstream, client: openai.OpenAI) -> None:
    fake.script(Reply("one"), Error(429, "limited", "rate_limit_exceeded"), Reply("three"))

    client.chat.completions.create(model=MODEL, messages=USER)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model=MODEL, messages=USER)
    client.chat.completions.create(model=MODEL, messages=USER)

    ports = {r.client_address for r in fake.requests}
    assert len(ports) == 1, ports


def test_stream_leaves_connection_reusable(fake: FakeUpstream) -> None:
    # The sync SDK closes its connection after [DONE], so check reuse with http.client, which
    # reads the chunked body to its end.
    payload = json.dumps({"model": MODEL, "messages": USER, "stream": True}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    try:
        for _ in range(2):
            conn.request("POST", "/v1/chat/completions", payload, AUTH)
            resp = conn.getresponse()
            assert resp.status == 200
            assert resp.read().endswith(b"data: [DONE]\n\n")
    finally:
        conn.close()

    assert len({r.client_address for r in fake.requests}) == 1


def test_concurrent_requests(fake: FakeUpstream, client: openai.OpenAI) -> None:
    results: dict[int, str] = {}

    def call(i: int) -> None:
        messages = [{"role": "user", "content": f"n{i}"}]
        stream = client.chat.completions.create(model=MODEL, messages=messages, stream=True)
        results[i] = "".join(c.choices[0].delta.content or "" for c in stream)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)

    assert results == {i: f"Echo: n{i}" for i in range(8)}
    assert len(fake.wait_for_requests(8)) == 8


def test_stop_closes_idle_connections_and_port() -> None:
    server = FakeUpstream().start()
    port = server.port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/v1/models", headers=AUTH)
    assert conn.getresponse().read()

    started = time.monotonic()
    server.stop()

    assert time.monotonic() - started < 2
    assert conn.sock is not None and conn.sock.recv(1) == b""  # kept-alive socket was closed
    conn.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
