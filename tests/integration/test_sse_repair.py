"""The SSE repair under the SDK (`services.llm_client._SSERepairStream`).

Two framing faults seen from Azure (and some gateways) lose part of a reply in openai 3.52:

* the last event lacks its blank line and the body ends: the SDK silently drops that event,
  so the finish chunk (finish_reason, usage) never arrives;
* an event lacks its blank line and `data: [DONE]` follows: the two data lines form one event
  and the SDK raises json.JSONDecodeError.

The first section proves both faults are real with a plain SDK client (so the app-level tests
below can fail); the second checks the app's replies stay complete; the third drives the
repair stream itself over awkwardly split bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx2
import openai
import pytest
from openai._streaming import SSEDecoder

from services.llm_client import _repair_sse, _SSERepairStream, build_client
from services.providers import ModelSpec, ProviderSpec
from tests.conftest import TEST_KEY, settings_for
from tests.fake_upstream import Error, FakeUpstream, Reply

USER = [{"role": "user", "content": "Tell me something"}]
TEXT = "Complete reply: 你好, 🇫🇷 and é."
USAGE = {"prompt_tokens": 7, "completion_tokens": 9, "total_tokens": 16}
MAPPER = "gpt-4o=my-gpt4o"
NO_STREAM_OPTIONS = Error(
    400, "Unrecognized request argument supplied: stream_options", code="invalid_request"
)

FINAL_UNTERMINATED = {"final_chunk_without_blank_line": True}
MERGED_WITH_DONE = {"content_then_done_without_separator": True}
QUIRKS = [FINAL_UNTERMINATED, MERGED_WITH_DONE]
QUIRK_IDS = ["final-chunk-unterminated", "merged-with-done"]


# --------------------------------------------------------------------------- the SDK alone


@pytest.fixture
def plain(fake: FakeUpstream) -> Iterator[openai.OpenAI]:
    """An SDK client without the app's repair hook."""
    with openai.OpenAI(base_url=fake.base_url, api_key=TEST_KEY, max_retries=0, timeout=10) as c:
        yield c


@pytest.fixture
def repaired(fake: FakeUpstream) -> openai.OpenAI:
    """The client the app builds for the same endpoint (repair hook included)."""
    provider = ProviderSpec(
        id="p", kind="compatible", base_url=fake.base_url, models=[ModelSpec(id="m")]
    )
    return build_client(provider, TEST_KEY, settings_for(fake))


def sdk_stream(client: openai.OpenAI, usage: bool) -> list:
    options = {"stream_options": {"include_usage": True}} if usage else {}
    return list(client.chat.completions.create(model="m", messages=USER, stream=True, **options))


def finish_reasons(chunks: list) -> list[str]:
    return [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]


def text_of(chunks: list) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


@pytest.mark.parametrize("usage", [False, True])
def test_sdk_alone_drops_an_unterminated_final_chunk(
    fake: FakeUpstream, plain: openai.OpenAI, repaired: openai.OpenAI, usage: bool
) -> None:
    fake.script(Reply(TEXT, usage=USAGE, **FINAL_UNTERMINATED))
    fake.script(Reply(TEXT, usage=USAGE, **FINAL_UNTERMINATED))

    lossy = sdk_stream(plain, usage)
    whole = sdk_stream(repaired, usage)

    # No error, but the finish chunk (and the usage it carried) is gone.
    assert text_of(lossy) == TEXT
    assert finish_reasons(lossy) == []
    assert all(c.usage is None for c in lossy)
    assert text_of(whole) == TEXT
    assert finish_reasons(whole) == ["stop"]
    if usage:
        assert whole[-1].usage.model_dump(exclude_none=True) == USAGE


@pytest.mark.parametrize("usage", [False, True])
def test_sdk_alone_fails_on_an_event_merged_with_done(
    fake: FakeUpstream, plain: openai.OpenAI, repaired: openai.OpenAI, usage: bool
) -> None:
    fake.script(Reply(TEXT, usage=USAGE, **MERGED_WITH_DONE))
    fake.script(Reply(TEXT, usage=USAGE, **MERGED_WITH_DONE))

    with pytest.raises(json.JSONDecodeError):
        sdk_stream(plain, usage)
    whole = sdk_stream(repaired, usage)

    assert text_of(whole) == TEXT
    assert finish_reasons(whole) == ["stop"]
    if usage:
        assert whole[-1].usage.model_dump(exclude_none=True) == USAGE


def test_sdk_alone_reads_a_gzip_stream(fake: FakeUpstream, plain: openai.OpenAI) -> None:
    # The fake's gzip framing is sound: a well-formed compressed stream reads completely.
    fake.script(Reply(TEXT, usage=USAGE, gzip=True))

    chunks = sdk_stream(plain, usage=True)

    assert fake.requests[0].headers["accept-encoding"].startswith("gzip")
    assert text_of(chunks) == TEXT
    assert finish_reasons(chunks) == ["stop"]


# --------------------------------------------------------------------------- through the app


def parse_sse(body: str) -> list[dict]:
    assert body.endswith("\n\n"), f"stream does not end with a complete event: {body[-80:]!r}"
    events = []
    for block in body[: -len("\n\n")].split("\n\n"):
        assert block.startswith("data: ") and "\n" not in block, f"bad event: {block!r}"
        events.append(json.loads(block[len("data: ") :]))
    return events


def stream(client, **extra) -> tuple[str, dict]:
    response = client.post("/api/chat/stream", json={"messages": USER, **extra})
    assert response.status_code == 200
    *body, final = parse_sse(response.get_data(as_text=True))
    assert all("delta" in e and "done" not in e and "error" not in e for e in body), body
    return "".join(e["delta"] for e in body), final


@pytest.fixture(params=["openai", "azure"])
def app_client(request, make_app, fake: FakeUpstream):
    """The app, configured for an OpenAI-compatible endpoint or for Azure."""
    if request.param == "azure":
        app = make_app(
            azure_openai_endpoint=fake.azure_endpoint,
            azure_openai_api_key=TEST_KEY,
            azure_openai_model_mapper=MAPPER,
            openai_model="gpt-4o",
        )
    else:
        app = make_app(openai_model="gpt-4o")
    return app.server.test_client()


@pytest.mark.parametrize("quirk", QUIRKS, ids=QUIRK_IDS)
@pytest.mark.parametrize("chunk_size", [1, 5])
def test_app_reply_is_complete_with_usage(
    app_client, fake: FakeUpstream, quirk: dict, chunk_size: int
) -> None:
    fake.script(Reply(TEXT, chunk_size=chunk_size, usage=USAGE, **quirk))

    text, final = stream(app_client)

    assert fake.requests[0].body["stream_options"] == {"include_usage": True}
    assert text == TEXT
    assert final == {
        "done": True,
        "usage": USAGE,
        "finish_reason": "stop",
        "model": "gpt-4o",
        "context": {"dropped_rounds": 0, "retried": False},
    }


@pytest.mark.parametrize("quirk", QUIRKS, ids=QUIRK_IDS)
def test_app_reply_is_complete_without_usage(app_client, fake: FakeUpstream, quirk: dict) -> None:
    # An upstream that refuses stream_options: the app retries without it, so no usage chunk
    # follows and the finish chunk itself is the unterminated (or merged) event.
    fake.script(NO_STREAM_OPTIONS, Reply(TEXT, finish_reason="length", **quirk))

    text, final = stream(app_client)

    first, second = fake.requests
    assert "stream_options" in first.body
    assert "stream_options" not in second.body
    assert text == TEXT
    # Without stream_options the upstream sends no usage: the app counts locally instead.
    usage = final.pop("usage")
    assert usage["estimated"] is True
    assert usage["completion_tokens"] > 0
    assert final == {
        "done": True,
        "finish_reason": "length",
        "model": "gpt-4o",
        "context": {"dropped_rounds": 0, "retried": False},
    }


def test_app_reply_in_snapshots_mode_ends_with_the_whole_content(
    app_client, fake: FakeUpstream
) -> None:
    fake.script(Reply(TEXT, chunk_size=2, usage=USAGE, **FINAL_UNTERMINATED))

    _, final = stream(app_client, snapshots=True)

    assert final["done"] is True
    assert final["content"] == TEXT


@pytest.mark.parametrize("quirk", [{}, *QUIRKS], ids=["well-formed", *QUIRK_IDS])
def test_app_reply_is_complete_over_gzip(app_client, fake: FakeUpstream, quirk: dict) -> None:
    # The same faults, in a stream the upstream (or a proxy in front of it) compresses.
    fake.script(Reply(TEXT, chunk_size=3, usage=USAGE, gzip=True, **quirk))

    text, final = stream(app_client)

    assert text == TEXT
    assert final == {
        "done": True,
        "usage": USAGE,
        "finish_reason": "stop",
        "model": "gpt-4o",
        "context": {"dropped_rounds": 0, "retried": False},
    }


# --------------------------------------------------------------------------- the repair stream


class ChunkStream(httpx2.SyncByteStream):
    """Yields the given byte chunks; counts how many were pulled and whether it was closed."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.pulled = 0
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.pulled += 1
            yield chunk

    def close(self) -> None:
        self.closed = True


def repair(chunks: list[bytes]) -> list[bytes]:
    return list(_SSERepairStream(ChunkStream(chunks)))


def events(chunks: list[bytes]) -> list[tuple[str | None, str]]:
    """(event, data) of every event the SDK's own decoder finds in `chunks`."""
    return [(sse.event, sse.data) for sse in SSEDecoder().iter_bytes(iter(chunks))]


def data_line(obj: dict) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


CONTENT = [{"choices": [{"delta": {"content": piece}}]} for piece in ("你好", " 🇫🇷", " é!")]
FINISH = {"choices": [{"delta": {}, "finish_reason": "stop"}]}
EXPECTED = [(None, json.dumps(o, ensure_ascii=False, separators=(",", ":"))) for o in CONTENT]
EXPECTED_FINISH = (None, json.dumps(FINISH, separators=(",", ":")))


def body(newline: bytes, ending: str) -> tuple[bytes, list[tuple[str | None, str]]]:
    """An SSE body with `newline` line endings and a faulty `ending`; the events it means."""
    nl = newline
    text = b"".join(data_line(o) + nl + nl for o in CONTENT)
    text = b": keep-alive" + nl + nl + text
    expected = [*EXPECTED, EXPECTED_FINISH]
    if ending == "well-formed":
        text += data_line(FINISH) + nl + nl + b"data: [DONE]" + nl + nl
        expected.append((None, "[DONE]"))
    elif ending == "final-unterminated":
        text += data_line(FINISH) + nl
    elif ending == "final-without-newline":
        text += data_line(FINISH)
    elif ending == "merged-with-done":
        text += data_line(FINISH) + nl + b"data: [DONE]" + nl + nl
        expected.append((None, "[DONE]"))
    else:
        raise AssertionError(ending)
    return text, expected


ENDINGS = ["well-formed", "final-unterminated", "final-without-newline", "merged-with-done"]


def splits(raw: bytes) -> Iterator[list[bytes]]:
    """The body in one piece, byte by byte, and cut in two at every position."""
    yield [raw]
    yield [raw[i : i + 1] for i in range(len(raw))]
    for i in range(1, len(raw)):
        yield [raw[:i], raw[i:]]


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["LF", "CRLF"])
def test_repair_yields_every_event_however_the_bytes_are_split(newline: bytes, ending: str) -> None:
    raw, expected = body(newline, ending)
    whole = b"".join(repair([raw]))

    for chunks in splits(raw):
        out = repair(chunks)
        assert events(out) == expected, chunks
        # Same bytes whatever the split, and only whole lines: never half a UTF-8 character.
        assert b"".join(out) == whole
        assert all(piece.endswith(b"\n") for piece in out), out
        for piece in out:
            piece.decode("utf-8")


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["LF", "CRLF"])
def test_repair_does_not_change_a_well_formed_stream(newline: bytes) -> None:
    raw, expected = body(newline, "well-formed")

    assert events([raw]) == expected  # the SDK alone already reads it
    assert events(repair([raw])) == expected


def test_the_faulty_bodies_really_break_the_sdk_decoder() -> None:
    # Without the repair, the SDK's decoder loses the final event or merges it with [DONE].
    for newline in (b"\n", b"\r\n"):
        for ending in ("final-unterminated", "final-without-newline"):
            raw, expected = body(newline, ending)
            assert events([raw]) == expected[:-1]
        raw, _ = body(newline, "merged-with-done")
        assert events([raw])[-1] == (None, EXPECTED_FINISH[1] + "\n[DONE]")


def test_repair_keeps_event_names_and_comments() -> None:
    raw = b': ping\n\nevent: error\ndata: {"error": {}}\n\nretry: 10\ndata: x\n'

    assert events(repair([raw])) == [("error", '{"error": {}}'), (None, "x")]


def test_repair_streams_each_event_as_it_arrives() -> None:
    inner = ChunkStream([data_line(CONTENT[0]) + b"\n\n", data_line(CONTENT[1])[:9], b"..."])
    repaired = iter(_SSERepairStream(inner))

    first = next(repaired)

    # The first event is passed on before the next chunk is even read from upstream.
    assert inner.pulled == 1
    assert events([first]) == EXPECTED[:1]


def test_repair_of_empty_and_blank_bodies() -> None:
    assert repair([]) == []
    assert repair([b""]) == []
    assert b"".join(repair([b"\n", b"\n", b"  "])).strip() == b""
    assert events(repair([b"\n", b"\n", b"  "])) == []


def test_repair_close_closes_upstream() -> None:
    inner = ChunkStream([b"data: 1\n\n"])

    _SSERepairStream(inner).close()

    assert inner.closed


@pytest.mark.parametrize(
    ("content_type", "wrapped"),
    [
        ("text/event-stream", True),
        ("text/event-stream; charset=utf-8", True),
        ("application/json", False),
        ("", False),
    ],
)
def test_repair_hook_wraps_only_event_streams(content_type: str, wrapped: bool) -> None:
    inner = ChunkStream([data_line(FINISH) + b"\n"])
    headers = {"content-type": content_type} if content_type else {}
    response = httpx2.Response(200, headers=headers, stream=inner)

    _repair_sse(response)

    assert isinstance(response.stream, _SSERepairStream) is wrapped
    if wrapped:
        assert events(list(response.iter_bytes())) == [EXPECTED_FINISH]
