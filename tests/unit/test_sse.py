"""api.sse: the wire encoding, and the coalesced snapshot stream the Dash page reads."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from api import sse
from api.sse import encode, event_stream

DONE = {
    "done": True,
    "usage": {"prompt_tokens": 1, "completion_tokens": 3},
    "finish_reason": "stop",
}
ERROR = {"error": {"message": "cut", "type": "stream_cut"}}


def decode(chunks: list[str]) -> list[dict]:
    events = []
    for chunk in chunks:
        assert chunk.startswith("data: ")
        assert chunk.endswith("\n\n")
        assert "\n" not in chunk[:-2]  # exactly one data line per event
        events.append(json.loads(chunk[len("data: ") : -2]))
    return events


def generate(events: list[dict]) -> Iterator[dict]:
    yield from events


class Source:
    """A service stream that records how far it was read and whether it was closed."""

    def __init__(self, events: list[dict]) -> None:
        self.events = events
        self.yielded = 0
        self.closed = False

    def __iter__(self) -> Iterator[dict]:
        try:
            for event in self.events:
                self.yielded += 1
                yield event
        finally:
            self.closed = True


# encode --------------------------------------------------------------------------------


def test_encode_is_one_data_line_and_a_blank_line() -> None:
    assert encode({"delta": "Hi"}) == 'data: {"delta":"Hi"}\n\n'


def test_encode_keeps_non_ascii_as_utf8() -> None:
    text = encode({"delta": "你好 — ✓ 😀"})
    assert text == 'data: {"delta":"你好 — ✓ 😀"}\n\n'
    assert "\\u" not in text
    assert text.encode("utf-8").decode("utf-8") == text


def test_encode_escapes_newlines_so_the_event_is_not_split() -> None:
    text = encode({"delta": "line1\nline2\r\n\nend"})
    assert text.count("\n") == 2
    assert "\r" not in text
    assert decode([text]) == [{"delta": "line1\nline2\r\n\nend"}]


# without snapshots ---------------------------------------------------------------------


@pytest.mark.parametrize("final", [DONE, ERROR], ids=["done", "error"])
def test_plain_stream_passes_events_through_one_to_one(final: dict) -> None:
    events = [{"delta": "a"}, {"delta": "b"}, {"delta": "c"}, final]
    assert decode(list(event_stream(generate(events)))) == events


def test_event_stream_accepts_a_plain_list() -> None:
    """`events` is typed Iterable: a list (no `.close()`) must work like a generator."""
    events = [{"delta": "a"}, DONE]
    assert decode(list(event_stream(events))) == events
    assert decode(list(event_stream(events, snapshots=True))) == [
        {"delta": "a", "content": "a"},
        {**DONE, "content": "a"},
    ]


# with snapshots ------------------------------------------------------------------------


def snapshot_events(events: list[dict], interval: float) -> list[dict]:
    return decode(list(event_stream(generate(events), snapshots=True, interval=interval)))


def test_snapshots_without_coalescing_carry_the_text_so_far() -> None:
    out = snapshot_events([{"delta": "Hel"}, {"delta": "lo"}, {"delta": "!"}, DONE], 0)
    assert out == [
        {"delta": "Hel", "content": "Hel"},
        {"delta": "lo", "content": "Hello"},
        {"delta": "!", "content": "Hello!"},
        {**DONE, "content": "Hello!"},
    ]


def test_snapshots_coalesce_deltas_within_the_interval() -> None:
    deltas = [{"delta": c} for c in "abcdef"]
    out = snapshot_events([*deltas, DONE], 10.0)
    assert out == [
        {"delta": "a", "content": "a"},  # the first delta goes out at once
        {"delta": "bcdef", "content": "abcdef"},  # the rest, flushed before the end
        {**DONE, "content": "abcdef"},
    ]


def test_snapshot_error_carries_the_partial_reply_and_comes_last() -> None:
    out = snapshot_events([{"delta": "par"}, {"delta": "tial"}, ERROR], 10.0)
    assert out[-1] == {**ERROR, "content": "partial"}
    assert out[:-1] == [
        {"delta": "par", "content": "par"},
        {"delta": "tial", "content": "partial"},
    ]


def test_snapshot_error_before_any_text() -> None:
    assert snapshot_events([ERROR], 0) == [{**ERROR, "content": ""}]


def test_snapshots_follow_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """One event per interval: deltas arriving sooner wait for the next one."""
    clock = {"now": 100.0}
    monkeypatch.setattr(sse.time, "monotonic", lambda: clock["now"])

    def timed() -> Iterator[dict]:
        for at, text in [(100.0, "a"), (100.01, "b"), (100.02, "c"), (100.06, "d"), (100.07, "e")]:
            clock["now"] = at
            yield {"delta": text}
        yield DONE

    out = decode(list(event_stream(timed(), snapshots=True, interval=0.05)))
    assert out == [
        {"delta": "a", "content": "a"},
        {"delta": "bcd", "content": "abcd"},
        {"delta": "e", "content": "abcde"},
        {**DONE, "content": "abcde"},
    ]


@pytest.mark.parametrize("interval", [0, 0.05, 10.0])
def test_snapshot_invariants(interval: float) -> None:
    deltas = ["The ", "quick ", "", "brown ", "狐狸", " jumps\n", "```py\nx=1\n```"]
    out = snapshot_events([*({"delta": d} for d in deltas), DONE], interval)
    full = "".join(deltas)
    assert "".join(e["delta"] for e in out[:-1]) == full
    so_far = ""
    for event in out[:-1]:
        so_far += event["delta"]
        assert event["content"] == so_far
    assert out[-1] == {**DONE, "content": full}
    assert sum("done" in e for e in out) == 1


# closing -------------------------------------------------------------------------------


@pytest.mark.parametrize("snapshots", [False, True])
def test_closing_the_output_closes_the_source(snapshots: bool) -> None:
    source = Source([{"delta": str(i)} for i in range(100)] + [DONE])
    out = event_stream(iter(source), snapshots=snapshots, interval=0)
    assert [e["delta"] for e in decode([next(out), next(out)])] == ["0", "1"]
    out.close()
    assert source.closed is True
    assert source.yielded == 2  # nothing more was pulled from upstream


@pytest.mark.parametrize("snapshots", [False, True])
def test_a_finished_stream_closes_its_source(snapshots: bool) -> None:
    source = Source([{"delta": "a"}, DONE])
    list(event_stream(iter(source), snapshots=snapshots))
    assert source.closed is True


@pytest.mark.parametrize("snapshots", [False, True])
def test_a_source_that_ends_without_a_final_event_still_gets_one(snapshots: bool) -> None:
    events = decode(list(event_stream(generate([{"delta": "half"}]), snapshots=snapshots)))
    assert "".join(e.get("delta", "") for e in events) == "half"
    assert events[-1]["error"]["type"] == "stream_cut"
    assert [e for e in events if "error" in e or "done" in e] == [events[-1]]
    if snapshots:
        assert events[-1]["content"] == "half"


def test_events_after_the_final_one_are_not_sent() -> None:
    source = [{"delta": "a"}, {"done": True, "usage": None}, {"delta": "late"}]
    events = decode(list(event_stream(generate(source))))
    assert events == [{"delta": "a"}, {"done": True, "usage": None}]
