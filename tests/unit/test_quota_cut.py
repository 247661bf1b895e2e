"""A reply sent with only what was left of the user's day as its max_tokens (api/usage.py):
its end at that length says the day ran out, on record and on the page, in both languages."""

from __future__ import annotations

import pytest

from api.usage import quota_cut
from components.message import assistant_message
from services.conversation import record_result, result_from_event
from tests.unit.test_thread import texts

LENGTH_END = {"done": True, "finish_reason": "length", "usage": None}


def test_only_an_end_at_its_length_is_marked() -> None:
    events = [{"delta": "Hi"}, LENGTH_END]
    assert list(quota_cut(events))[-1]["quota_cut"] is True
    finished = [{"delta": "Hi"}, {"done": True, "finish_reason": "stop"}]
    assert "quota_cut" not in list(quota_cut(finished))[-1]
    failed = [{"error": {"type": "stream_cut"}}]
    assert list(quota_cut(failed)) == failed


def test_the_mark_goes_on_record_with_the_reply() -> None:
    [reply] = record_result(
        [], result_from_event({**LENGTH_END, "quota_cut": True}, "Hi"), model="m"
    )
    assert (reply["status"], reply["quota_cut"]) == ("length", True)
    [plain] = record_result([], result_from_event(LENGTH_END, "Hi"), model="m")
    assert "quota_cut" not in plain
    # Only a reply cut at its length: a finished one never carries it.
    done = {"done": True, "finish_reason": "stop", "quota_cut": True}
    [whole] = record_result([], result_from_event(done, "Hi"), model="m")
    assert "quota_cut" not in whole


@pytest.mark.parametrize(
    ("lang", "said", "plain"),
    [
        ("en", "Today's tokens ran out", "reached the maximum length"),
        ("zh-cn", "今天的 tokens 已用完", "达到了最大长度"),
    ],
)
def test_the_page_says_the_day_ran_out_not_a_length_cap(lang, said, plain) -> None:
    reply = {"role": "assistant", "content": "Hi", "status": "length"}
    cut = " ".join(texts(assistant_message({**reply, "quota_cut": True}, lang=lang)))
    assert said in cut and plain not in cut
    capped = " ".join(texts(assistant_message(reply, lang=lang)))
    assert plain in capped and said not in capped
