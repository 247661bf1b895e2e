"""The chat HTTP API end to end: routes -> ChatService -> real `openai` SDK -> fake upstream.

Every request crosses real HTTP twice: the Flask test client (or a real threaded server) drives
the app, and the app reaches `tests.fake_upstream.FakeUpstream` over TCP through the SDK. The
assertions are what an API client would see: status, headers, SSE events, JSON bodies, and what
the model provider received.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from urllib.parse import urlsplit

import pytest

from tests.conftest import TEST_KEY
from tests.fake_upstream import Cut, Error, Hang, Reply

QUESTION = "What is the capital of France?"
USER = [{"role": "user", "content": QUESTION}]
WRONG_KEY = "sk-wrong-fake-key-999"
USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}

RATE_LIMITED = Error(429, "Rate limit reached", "requests", "rate_limit_exceeded")
NO_QUOTA = Error(429, "You exceeded your current quota", "insufficient_quota", "insufficient_quota")
SERVER_ERROR = Error(500, "The server had an error", "server_error")
PROMPT_FILTERED = Error(400, "The prompt was filtered", "invalid_request_error", "content_filter")


# --------------------------------------------------------------------------- SSE helpers


def parse_sse(body: str) -> list[dict]:
    """Split an SSE body into its events; each must be exactly one `data: <json>` line."""
    assert body.endswith("\n\n"), f"stream does not end with a complete event: {body[-80:]!r}"
    events = []
    for block in body[: -len("\n\n")].split("\n\n"):
        lines = block.split("\n")
        assert len(lines) == 1, f"event with several lines: {block!r}"
        assert lines[0].startswith("data: "), f"not a data event: {block!r}"
        events.append(json.loads(lines[0][len("data: ") :]))
    return events


def split_stream(events: list[dict]) -> tuple[str, dict]:
    """(the concatenated deltas, the final event); checks the stream's overall shape."""
    assert events, "empty stream"
    *body, final = events
    for event in body:
        assert "done" not in event and "error" not in event, f"final event before the end: {event}"
        assert isinstance(event.get("delta"), str), f"not a text event: {event}"
    assert ("done" in final) != ("error" in final), f"last event is not done/error: {final}"
    if "done" in final:
        assert final["done"] is True
    else:
        assert isinstance(final["error"]["message"], str) and final["error"]["message"]
        assert isinstance(final["error"]["type"], str) and final["error"]["type"]
    return "".join(event["delta"] for event in body), final


def stream(client, messages=USER, **extra) -> tuple[str, dict, list[dict]]:
    """POST /api/chat/stream; returns (text, final event, all events) after checking headers."""
    response = client.post("/api/chat/stream", json={"messages": messages, **extra})
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    raw = response.get_data(as_text=True)
    assert TEST_KEY not in raw and WRONG_KEY not in raw
    events = parse_sse(raw)
    text, final = split_stream(events)
    return text, final, events


def assert_works(client, fake) -> None:
    """The app still answers normally (after an error, say)."""
    fake.script(Reply("Still here"))
    text, final, _ = stream(client, [{"role": "user", "content": "again"}])
    assert text == "Still here"
    assert final["done"] is True


# --------------------------------------------------------------------------- health


def test_healthz(client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


# --------------------------------------------------------------------------- streaming


def test_stream_headers_text_and_usage(client, fake) -> None:
    text = "Paris 是法国的首都 🇫🇷🗼, and 😀 emoji survive chunking."
    fake.script(Reply(text, chunk_size=3, usage=USAGE))

    response = client.post("/api/chat/stream", json={"messages": USER})

    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert response.headers["Cache-Control"] == "no-cache"
    events = parse_sse(response.get_data(as_text=True))
    got, final = split_stream(events)
    assert got == text
    assert len(events) > 2  # really streamed in pieces, not one blob
    assert final["done"] is True
    assert final["usage"] == USAGE


def test_stream_request_that_reaches_the_model(make_app, fake) -> None:
    client = make_app(openai_model="gpt-4.1-mini").server.test_client()
    history = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! 你好"},
        {"role": "user", "content": QUESTION},
    ]

    text, final, _ = stream(client, history)

    assert text == f"Echo: {QUESTION}"
    assert final["done"] is True
    # Default usage of the fake: derived from the prompt and reply lengths.
    assert final["usage"]["completion_tokens"] == len(text) // 4
    (request,) = fake.requests
    assert request.method == "POST"
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {TEST_KEY}"
    assert request.body["model"] == "gpt-4.1-mini"
    assert request.body["messages"] == history
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert "temperature" not in request.body


def test_stream_request_may_name_the_configured_model(client, fake) -> None:
    _, final, _ = stream(client, model="gpt-4o-mini")

    assert final["done"] is True
    assert fake.requests[0].body["model"] == "gpt-4o-mini"


def test_snapshots_carry_the_whole_text_so_far(client, fake) -> None:
    text = "Snapshots: 一二三四五六七八九十 🎉 and a tail of words to stream slowly."
    fake.script(Reply(text, chunk_size=2, delay=0.01, usage=USAGE))

    _, final, events = stream(client, snapshots=True)

    so_far = ""
    for event in events[:-1]:
        so_far += event["delta"]
        assert event["content"] == so_far
    assert so_far == text
    assert final["done"] is True
    assert final["content"] == text
    assert final["usage"] == USAGE


def test_history_is_trimmed_to_max_history_rounds(make_app, fake) -> None:
    client = make_app(max_history_rounds=2).server.test_client()
    system = {"role": "system", "content": "You are terse."}
    rounds = []
    for n in range(1, 6):
        rounds += [
            {"role": "user", "content": f"question {n}"},
            {"role": "assistant", "content": f"answer {n}"},
        ]
    question = {"role": "user", "content": "question 6"}

    text, final, _ = stream(client, [system, *rounds, question])

    assert final["done"] is True
    assert text == "Echo: question 6"
    sent = fake.requests[0].body["messages"]
    assert sent == [system, *rounds[-4:], question]


@pytest.mark.parametrize(
    ("configured", "requested", "expected"),
    [
        (0.3, None, 0.3),
        (0.3, 1.5, 1.5),
        (None, 0.7, 0.7),
        (1.2, 0, 0),  # zero is a real temperature, not "unset"
    ],
)
def test_temperature_is_forwarded(make_app, fake, configured, requested, expected) -> None:
    client = make_app(openai_temperature=configured).server.test_client()
    extra = {} if requested is None else {"temperature": requested}

    _, final, _ = stream(client, **extra)

    assert final["done"] is True
    assert fake.requests[0].body["temperature"] == expected


def test_azure_style_chunks_without_choices_are_skipped(client, fake) -> None:
    fake.script(Reply("Filtered but fine.", empty_choices_chunks=True, usage=USAGE))

    text, final, _ = stream(client)

    assert text == "Filtered but fine."
    assert final["done"] is True
    assert final["usage"] == USAGE


def test_stream_that_stops_for_length_still_ends_done(client, fake) -> None:
    fake.script(Reply("Cut short by max_tokens", finish_reason="length"))

    text, final, _ = stream(client)

    assert text == "Cut short by max_tokens"
    assert final["done"] is True
    assert final["finish_reason"] == "length"


def test_unterminated_done_marker_is_still_a_complete_reply(client, fake) -> None:
    # The last SSE event ("[DONE]") lacks its blank line, but finish_reason did arrive.
    fake.script(Reply("Complete answer.", last_event_without_blank_line=True))

    text, final, _ = stream(client)

    assert text == "Complete answer."
    assert final["done"] is True


def test_stream_without_finish_reason_is_reported_cut(client, fake) -> None:
    # The body ends cleanly ([DONE] included) but no chunk ever carried a finish_reason.
    fake.script(Reply("Half an ans", finish_reason=None))

    text, final, _ = stream(client, snapshots=True)

    assert text == "Half an ans"
    assert final["error"]["type"] == "stream_cut"
    assert final["content"] == "Half an ans"
    assert_works(client, fake)


def test_upstream_rejecting_stream_options_still_streams(client, fake) -> None:
    fake.script(Error(400, "Unrecognized request argument supplied: stream_options"))

    text, final, _ = stream(client)

    assert text == f"Echo: {QUESTION}"
    assert final["done"] is True
    first, second = fake.requests
    assert "stream_options" in first.body
    assert "stream_options" not in second.body
    assert second.body["stream"] is True


# --------------------------------------------------------------------------- stream errors


@pytest.mark.parametrize(
    ("scenario", "overrides", "kind"),
    [
        (None, {"openai_api_key": WRONG_KEY}, "authentication_error"),
        (RATE_LIMITED, {}, "rate_limited"),
        (NO_QUOTA, {}, "quota_exceeded"),
        (SERVER_ERROR, {}, "upstream_error"),
        (Error(503, "Overloaded", "server_error"), {}, "upstream_error"),
        (PROMPT_FILTERED, {}, "content_filter"),
        (
            Error(400, "Too many tokens", "invalid_request_error", "context_length_exceeded"),
            {},
            "context_too_long",
        ),
        (Error(404, "The model does not exist", code="model_not_found"), {}, "model_not_found"),
        (Hang(5), {"openai_timeout": 0.5}, "timeout"),
    ],
    ids=[
        "401",
        "429",
        "429-quota",
        "500",
        "503",
        "400-content-filter",
        "400-context-length",
        "404",
        "timeout",
    ],
)
def test_upstream_error_is_the_final_event(make_app, fake, scenario, overrides, kind) -> None:
    client = make_app(**overrides).server.test_client()
    if scenario is not None:
        fake.script(scenario)

    text, final, events = stream(client)

    assert text == ""
    assert len(events) == 1
    assert final["error"]["type"] == kind
    assert len(fake.requests) == 1
    if overrides.get("openai_api_key") == WRONG_KEY:
        # The 401 came from a wrong key; the next request would fail the same way.
        assert fake.requests[0].headers["authorization"] == f"Bearer {WRONG_KEY}"
        return
    assert_works(client, fake)


def test_wrong_key_is_never_echoed(make_app, fake) -> None:
    client = make_app(openai_api_key=WRONG_KEY).server.test_client()

    stream_body = client.post("/api/chat/stream", json={"messages": USER}).get_data(as_text=True)
    json_response = client.post("/api/chat", json={"messages": USER})

    assert "authentication_error" in stream_body
    assert json_response.get_json()["error"]["type"] == "authentication_error"
    for body in (stream_body, json_response.get_data(as_text=True)):
        assert WRONG_KEY not in body
        assert WRONG_KEY[8:] not in body  # not even most of it
        assert TEST_KEY not in body


def test_content_filter_finish_reason_ends_in_error(client, fake) -> None:
    fake.script(Reply("Some text before the fil", finish_reason="content_filter"))

    text, final, _ = stream(client)

    assert text == "Some text before the fil"
    assert final["error"]["type"] == "content_filter"
    assert_works(client, fake)


def test_cut_mid_stream_keeps_partial_text(client, fake) -> None:
    fake.script(Cut("The beginning of 一个 answer"))

    text, final, _ = stream(client)

    assert text == "The beginning of 一个 answer"
    assert final["error"]["type"] == "stream_cut"
    assert_works(client, fake)


def test_cut_mid_stream_with_snapshots(client, fake) -> None:
    fake.script(Cut("Partial snapshot text 🙂", chunk_size=3))

    text, final, events = stream(client, snapshots=True)

    assert text == "Partial snapshot text 🙂"
    assert final["error"]["type"] == "stream_cut"
    assert final["content"] == "Partial snapshot text 🙂"
    for event in events[:-1]:
        assert text.startswith(event["content"])
    assert_works(client, fake)


def test_stream_that_stalls_after_the_headers_times_out(make_app, fake) -> None:
    # Headers and the role chunk arrive at once, then nothing for longer than the timeout.
    client = make_app(openai_timeout=0.5).server.test_client()
    fake.script(Reply("too slow", delay=3))

    text, final, _ = stream(client)

    assert text == ""
    assert final["error"]["type"] == "timeout"
    assert fake.requests[0].client_disconnected.wait(5)
    assert_works(client, fake)


def test_missing_key_fails_without_calling_anyone(make_app, fake) -> None:
    client = make_app(openai_api_key=None, openai_base_url=None).server.test_client()

    text, final, _ = stream(client)
    response = client.post("/api/chat", json={"messages": USER})

    assert text == ""
    assert final["error"]["type"] == "missing_api_key"
    assert "OPENAI_API_KEY" in final["error"]["message"]
    assert response.status_code == 503
    assert response.get_json()["error"]["type"] == "missing_api_key"
    assert fake.requests == []


def test_stream_retries_a_server_error(make_app, fake) -> None:
    client = make_app(openai_max_retries=1).server.test_client()
    fake.script(SERVER_ERROR, Reply("Second try."))

    text, final, _ = stream(client)

    assert text == "Second try."
    assert final["done"] is True
    assert len(fake.requests) == 2


# --------------------------------------------------------------------------- disconnects


def test_client_disconnect_closes_the_upstream_stream(live_server, fake) -> None:
    fake.script(Reply("word " * 200, chunk_size=5, delay=0.1))
    with live_server() as server:
        url = urlsplit(server.url)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        body = json.dumps({"messages": USER})
        conn.request("POST", "/api/chat/stream", body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 200
        first = response.readline()
        assert response.readline() == b"\n"  # the blank line that ends the first event
        assert json.loads(first.decode()[len("data: ") :])["delta"] == "word "

        (request,) = fake.wait_for_requests(1)
        assert not request.client_disconnected.is_set()
        response.close()
        conn.close()

        assert request.client_disconnected.wait(5), "upstream still streaming to nobody"
        assert not request.finished.is_set()

        # And the server is fine afterwards.
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        conn.request("POST", "/api/chat", body, headers={"Content-Type": "application/json"})
        again = conn.getresponse()
        assert again.status == 200
        assert json.loads(again.read())["reply"] == f"Echo: {QUESTION}"
        conn.close()


def test_concurrent_streams_do_not_mix(live_server, fake) -> None:
    fake.script(
        Reply("A" * 40, chunk_size=1, delay=0.01), Reply("b" * 40, chunk_size=1, delay=0.01)
    )
    bodies: dict[int, str] = {}

    def ask(server_url: str, n: int) -> None:
        url = urlsplit(server_url)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        conn.request(
            "POST",
            "/api/chat/stream",
            json.dumps({"messages": USER}),
            headers={"Content-Type": "application/json"},
        )
        bodies[n] = conn.getresponse().read().decode()
        conn.close()

    with live_server() as server:
        threads = [threading.Thread(target=ask, args=(server.url, n)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(15)

    texts = sorted(split_stream(parse_sse(body))[0] for body in bodies.values())
    assert texts == ["A" * 40, "b" * 40]
    assert len(fake.requests) == 2


# --------------------------------------------------------------------------- POST /api/chat


def test_chat_returns_reply_and_usage(client, fake) -> None:
    fake.script(Reply("Paris. 巴黎 🥐", usage=USAGE))

    response = client.post("/api/chat", json={"messages": USER, "temperature": 0.2})

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    data = response.get_json()
    assert data["reply"] == "Paris. 巴黎 🥐"
    assert data["usage"] == USAGE
    (request,) = fake.requests
    assert "stream" not in request.body
    assert "stream_options" not in request.body
    assert request.body["messages"] == USER
    assert request.body["model"] == "gpt-4o-mini"
    assert request.body["temperature"] == 0.2
    assert request.headers["authorization"] == f"Bearer {TEST_KEY}"


def test_chat_trims_history_too(make_app, fake) -> None:
    client = make_app(max_history_rounds=1).server.test_client()
    messages = [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "1"},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "2"},
        {"role": "user", "content": "three"},
    ]

    response = client.post("/api/chat", json={"messages": messages})

    assert response.status_code == 200
    assert response.get_json()["reply"] == "Echo: three"
    assert fake.requests[0].body["messages"] == messages[2:]


@pytest.mark.parametrize(
    ("scenario", "overrides", "status", "kind"),
    [
        (RATE_LIMITED, {}, 429, "rate_limited"),
        (NO_QUOTA, {}, 429, "quota_exceeded"),
        (None, {"openai_api_key": WRONG_KEY}, 502, "authentication_error"),
        (SERVER_ERROR, {}, 502, "upstream_error"),
        (PROMPT_FILTERED, {}, 400, "content_filter"),
        (Hang(5), {"openai_timeout": 0.5}, 504, "timeout"),
        (Reply("Filtered reply", finish_reason="content_filter"), {}, 400, "content_filter"),
        (Cut("Half a JSON body"), {}, 502, "connection_error"),
    ],
    ids=[
        "429",
        "429-quota",
        "401",
        "500",
        "400-content-filter",
        "timeout",
        "filtered-reply",
        "cut",
    ],
)
def test_chat_errors_are_json(make_app, fake, scenario, overrides, status, kind) -> None:
    client = make_app(**overrides).server.test_client()
    if scenario is not None:
        fake.script(scenario)

    response = client.post("/api/chat", json={"messages": USER})

    assert response.status_code == status
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["type"] == kind
    assert isinstance(error["message"], str) and error["message"]
    body = response.get_data(as_text=True)
    assert TEST_KEY not in body and WRONG_KEY not in body
    assert "Traceback" not in body
    if overrides.get("openai_api_key") != WRONG_KEY:
        fake.script(Reply("Recovered"))
        again = client.post("/api/chat", json={"messages": USER})
        assert again.status_code == 200
        assert again.get_json()["reply"] == "Recovered"


def test_chat_retries_a_rate_limit(make_app, fake) -> None:
    client = make_app(openai_max_retries=1).server.test_client()
    fake.script(
        Error(429, "Rate limit reached", "requests", "rate_limit_exceeded", {"retry-after": "0"}),
        Reply("After the retry."),
    )

    response = client.post("/api/chat", json={"messages": USER})

    assert response.status_code == 200
    assert response.get_json()["reply"] == "After the retry."
    assert len(fake.requests) == 2


# Whole replies keep to the streams' retry rule (services/retry.py; test_stream_faults.py).


def test_chat_retries_a_server_error_then_answers(make_app, fake) -> None:
    client = make_app(openai_max_retries=2).server.test_client()
    fake.script(Error(503, "The engine is currently overloaded", "server_error"), Reply("Back."))

    response = client.post("/api/chat", json={"messages": USER})

    assert response.status_code == 200
    assert response.get_json()["reply"] == "Back."
    assert len(fake.requests) == 2
    assert fake.requests[1].body["messages"] == fake.requests[0].body["messages"]


def test_chat_reports_a_long_retry_after_instead_of_waiting(make_app, fake) -> None:
    """The SDK would sleep a minute or more here; the caller is told at once how long to wait."""
    client = make_app(openai_max_retries=2).server.test_client()
    fake.script(
        Error(429, "Rate limit reached", "requests", "rate_limit_exceeded", {"retry-after": "120"}),
        Reply("Never asked for."),
    )

    start = time.monotonic()
    response = client.post("/api/chat", json={"messages": USER})
    elapsed = time.monotonic() - start

    assert response.status_code == 429
    error = response.get_json()["error"]
    assert error["type"] == "rate_limited"
    assert error["retry_after"] == 120
    assert len(fake.requests) == 1
    assert fake.pending == 1
    assert elapsed < 10, elapsed


@pytest.mark.parametrize("retries", [0, 1, 3])
def test_chat_makes_at_most_one_attempt_plus_the_retries(make_app, fake, retries) -> None:
    client = make_app(openai_max_retries=retries).server.test_client()
    fake.script(*[Error(503, "Overloaded", "server_error")] * 5, Reply("Never asked for."))

    response = client.post("/api/chat", json={"messages": USER})

    assert response.status_code == 502
    assert response.get_json()["error"]["type"] == "upstream_error"
    assert len(fake.requests) == 1 + retries


def test_generation_settings_reach_the_upstream_with_the_right_names(make_app, fake) -> None:
    """OpenAI's own API takes max_completion_tokens; compatible servers take max_tokens."""
    compatible = make_app().server.test_client()  # the fake is a custom base URL
    response = compatible.post(
        "/api/chat",
        json={"messages": [{"role": "user", "content": "hi"}], "top_p": 0.5, "max_tokens": 7},
    )
    assert response.status_code == 200
    sent = fake.requests[-1].body
    assert (sent["top_p"], sent["max_tokens"]) == (0.5, 7)
    assert "max_completion_tokens" not in sent


def test_max_tokens_over_the_servers_limit_is_refused(make_app, fake) -> None:
    client = make_app(max_reply_tokens=100).server.test_client()
    response = client.post(
        "/api/chat/stream",
        json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 101},
    )
    assert response.status_code == 400
    assert "at most 100" in response.get_json()["error"]["message"]
    assert fake.requests == []


def test_openai_providers_get_max_completion_tokens(make_app, fake, tmp_path) -> None:
    path = tmp_path / "providers.yaml"
    path.write_text(
        "providers:\n"
        "  - id: openai\n"
        "    kind: openai\n"
        f"    base_url: {fake.base_url}\n"
        "    api_key_env: OPENAI_API_KEY\n"
        "    models: [{id: gpt-4o-mini}]\n",
        encoding="utf-8",
    )
    client = make_app(providers_file=str(path)).server.test_client()
    response = client.post(
        "/api/chat", json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 9}
    )
    assert response.status_code == 200
    sent = fake.requests[-1].body
    assert sent["max_completion_tokens"] == 9
    assert "max_tokens" not in sent
