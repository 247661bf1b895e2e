"""services.export: the Markdown file a user downloads, and reading it back."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from services.export import filename, from_markdown, to_markdown, user_time
from services.export_document import labels

SHANGHAI = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 21, 16, 30, 12, tzinfo=SHANGHAI)


CODE_REPLY = "Here you go:\n\n```python\ndef f(x):\n    return x * 2\n```\n\nDone."

HISTORY = [
    {"role": "user", "content": "Write a function"},
    {
        "role": "assistant",
        "content": CODE_REPLY,
        "model": "gpt-4o-mini",
        "usage": {"prompt_tokens": 3, "completion_tokens": 9},
        "status": "done",
    },
    {"role": "user", "content": "再来一个"},
    {"role": "error", "kind": "rate_limited", "detail": "Rate limit reached SECRET-DETAIL"},
    {"role": "user", "content": "再来一个"},
    {"role": "assistant", "content": "好的，这是中文回答。", "model": "m", "status": "stopped"},
]


def test_markdown_format_is_exact() -> None:
    history = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!", "status": "done"},
    ]
    text = to_markdown(history, model="gpt-4o-mini", now=NOW, labels=labels("en"))
    assert text == (
        "# Chat export\n"
        "\n"
        "- Exported: 2026-11-21 16:30:12 +08:00\n"
        "- Model: gpt-4o-mini\n"
        "\n"
        "---\n"
        "\n"
        "<!-- chat-message role=user -->\n"
        "### You\n"
        "\n"
        "Hi\n"
        "\n"
        "<!-- chat-message role=assistant status=done -->\n"
        "### Assistant\n"
        "\n"
        "Hello!\n"
    )


def test_content_is_verbatim_and_errors_are_left_out() -> None:
    text = to_markdown(HISTORY, model="gpt-4o-mini", now=NOW, labels=labels("en"))
    assert CODE_REPLY in text
    assert "好的，这是中文回答。" in text
    assert "SECRET-DETAIL" not in text
    assert "rate_limited" not in text
    assert "role=error" not in text
    assert text.count("<!-- chat-message role=user -->") == 3
    assert "<!-- chat-message role=assistant status=stopped -->" in text


def test_headings_follow_the_language_but_markers_do_not() -> None:
    text = to_markdown(HISTORY, model="gpt-4o-mini", now=NOW, labels=labels("zh-cn"))
    assert text.startswith("# 对话导出\n")
    assert "- 导出时间: 2026-11-21 16:30:12 +08:00" in text
    assert "- 模型: gpt-4o-mini" in text
    assert "### 你\n" in text
    assert "### 助手\n" in text
    assert "### You" not in text
    assert "<!-- chat-message role=user -->" in text


@pytest.mark.parametrize(
    ("tz", "suffix"),
    [
        (timezone.utc, "+00:00"),
        (timezone(timedelta(hours=-5, minutes=-30)), "-05:30"),
        (timezone(timedelta(hours=5, minutes=45)), "+05:45"),
    ],
)
def test_export_time_has_a_utc_offset(tz: timezone, suffix: str) -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=tz)
    text = to_markdown([], model="m", now=now, labels=labels("en"))
    assert f"- Exported: 2026-01-02 03:04:05 {suffix}\n" in text


def test_assistant_without_status_has_a_plain_marker() -> None:
    history = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    text = to_markdown(history, model="m", now=NOW, labels=labels("en"))
    assert "<!-- chat-message role=assistant -->\n" in text


def test_filename_pattern() -> None:
    name = filename(datetime(2026, 3, 4, 5, 6, 7))
    assert name == "chat-20260304-050607.md"
    assert re.fullmatch(r"chat-\d{8}-\d{6}\.md", filename(NOW))


def turns(history: list[dict]) -> list[dict]:
    """What an export keeps of a history: role, content, and an assistant's status, model and
    usage."""
    kept = []
    for entry in history:
        if entry["role"] not in ("user", "assistant"):
            continue
        out = {"role": entry["role"], "content": entry["content"]}
        if entry["role"] == "assistant":
            out.update({k: entry[k] for k in ("status", "model", "usage") if entry.get(k)})
        kept.append(out)
    return kept


TRICKY = [
    {"role": "user", "content": "### You\n\nfake heading\n\n---\n\n### Assistant\nstill me"},
    {
        "role": "assistant",
        "content": "# Title\n\n---\n\n### You\n\n- list\n\n```md\n### Assistant\n---\n```",
        "status": "done",
    },
    {"role": "user", "content": "\n\nleading blank lines and  trailing spaces  "},
    {"role": "assistant", "content": "", "status": "stopped"},
    {"role": "user", "content": "<!-- a comment --> and *markdown*"},
    {"role": "assistant", "content": "line1\n\n\n\nline5", "status": "length"},
    {"role": "user", "content": "最后一个问题"},
    {"role": "assistant", "content": "half", "status": "cut"},
]


@pytest.mark.parametrize("lang", ["en", "zh-cn"])
@pytest.mark.parametrize("history", [HISTORY, TRICKY], ids=["normal", "tricky"])
def test_round_trip(history: list[dict], lang: str) -> None:
    text = to_markdown(history, model="gpt-4o-mini", now=NOW, labels=labels(lang))
    assert from_markdown(text) == turns(history)


def test_reading_an_empty_export_gives_no_turns() -> None:
    assert from_markdown(to_markdown([], model="m", now=NOW, labels=labels("en"))) == []


# user_time: the export is dated on the browser's clock -----------------------------------

INSTANT = datetime(2026, 12, 6, 17, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("zone", "stamp"),
    [
        ("Asia/Shanghai", "2026-12-07 01:00:00 +08:00"),
        ("America/New_York", "2026-12-06 12:00:00 -05:00"),
        ("Asia/Kolkata", "2026-12-06 22:30:00 +05:30"),
        ("UTC", "2026-12-06 17:00:00 +00:00"),
    ],
)
def test_export_is_dated_in_the_browsers_time_zone(zone: str, stamp: str) -> None:
    now = user_time(zone, INSTANT)
    text = to_markdown([], model="m", now=now, labels=labels("en"))
    assert f"- Exported: {stamp}\n" in text


def test_daylight_saving_follows_the_date() -> None:
    summer = datetime(2026, 7, 1, 12, tzinfo=timezone.utc)
    assert user_time("Europe/Berlin", summer).utcoffset() == timedelta(hours=2)
    assert user_time("Europe/Berlin", INSTANT).utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize(
    "zone",
    [None, "", "Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime", 8, ["UTC"], "A" * 65],
)
def test_an_unknown_or_missing_zone_gives_utc(zone: object) -> None:
    now = user_time(zone, INSTANT)
    assert now == INSTANT and now.utcoffset() == timedelta(0)


def test_the_file_name_follows_the_users_clock() -> None:
    assert filename(user_time("Asia/Shanghai", INSTANT)) == "chat-20261207-010000.md"


def test_without_an_instant_it_is_now() -> None:
    before = datetime.now(timezone.utc)
    now = user_time("Asia/Tokyo")
    assert now.utcoffset() == timedelta(hours=9)
    assert before <= now <= datetime.now(timezone.utc)


def test_a_questions_attachments_are_listed_and_left_out_on_import() -> None:
    refs = [
        {"id": "a" * 32, "name": "work sheet.jpg", "kind": "image", "mime": "image/jpeg",
         "size": 1_258_291},
        {"id": "b" * 32, "name": "<script>*x*.pdf", "kind": "document",
         "mime": "application/pdf", "size": 348_160},
        {"id": "c" * 32, "name": "notes.txt", "kind": "document", "mime": "text/plain",
         "size": 820},
    ]  # fmt: skip
    history = [
        {"role": "user", "content": "What do these say?", "attachments": refs},
        {"role": "assistant", "content": "They say hello.", "status": "done"},
    ]
    text = to_markdown(history, model="m", now=NOW, labels=labels("en"))
    assert (
        "What do these say?\n"
        "\n"
        "<!-- chat-attachments -->\n"
        "Attachments:\n"
        "- work sheet.jpg (image/jpeg, 1.2 MB)\n"
        "- \\<script\\>\\*x\\*.pdf (application/pdf, 340.0 KB)\n"
        "- notes.txt (text/plain, 820 B)\n"
        "\n"
        "<!-- chat-message role=assistant status=done -->\n"
    ) in text
    assert "附件:\n- work sheet.jpg" in to_markdown(
        history, model="m", now=NOW, labels=labels("zh-cn")
    )
    assert from_markdown(text) == [
        {"role": "user", "content": "What do these say?"},
        {"role": "assistant", "status": "done", "content": "They say hello."},
    ]
