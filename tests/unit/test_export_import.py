"""An export's round trip: each reply's model, tokens and status survive, the totals with them,
and importing the same file twice gives one conversation (server records and browser copy)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from services.export import from_markdown, to_markdown
from services.export_document import document, labels
from services.export_meta import META_MAX_CHARS, fingerprint, import_id, meta_line
from services.importer import import_once
from services.pricing import Price, PriceTable
from services.records import Records
from services.records.browser import BrowserRecords
from tests.records_db import sqlite_url

NOW = datetime(2026, 11, 21, 16, 30, 12, tzinfo=timezone(timedelta(hours=8)))
PRICES = PriceTable(
    {
        "gpt-4o-mini": Price(Decimal("0.15"), Decimal("0.60"), "USD"),
        "deepseek-chat": Price(Decimal("2"), Decimal("8"), "CNY"),
    }
)
HISTORY = [
    {"role": "user", "content": "Plan a trip to Hangzhou"},
    {
        "role": "assistant",
        "content": "Day 1: West Lake.\n\n```text\n-->\n```",
        "model": "gpt-4o-mini",
        "usage": {"prompt_tokens": 1200, "completion_tokens": 340, "total_tokens": 1540},
        "status": "done",
    },
    {"role": "error", "kind": "rate_limited", "detail": "not exported"},
    {"role": "user", "content": "三天，谢谢"},
    {
        "role": "assistant",
        "content": "好的：第一天……",
        "model": "deepseek-chat",
        "usage": {"prompt_tokens": 2000, "completion_tokens": 90, "estimated": True},
        "status": "stopped",
    },
    {"role": "user", "content": "And a fourth?"},
    {"role": "assistant", "content": "Half an ans", "model": "gpt-4o-mini", "status": "cut"},
]


def export(history: list[dict], lang: str = "en") -> str:
    return document(history, lang=lang, prices=PRICES, default_model="gpt-4o-mini", now=NOW)


def test_a_reply_carries_its_model_and_tokens_in_a_hidden_comment() -> None:
    text = to_markdown(HISTORY[:2], model="gpt-4o-mini", now=NOW, labels=labels("en"))
    assert (
        "<!-- chat-message role=assistant status=done -->\n"
        '<!-- chat-meta {"model": "gpt-4o-mini", "usage": {"prompt_tokens": 1200, '
        '"completion_tokens": 340, "total_tokens": 1540}} -->\n'
        "### Assistant\n"
    ) in text


def test_what_readers_see_is_unchanged_apart_from_the_comments() -> None:
    with_meta = to_markdown(HISTORY, model="m", now=NOW, labels=labels("en"))
    bare = [{k: v for k, v in e.items() if k not in ("model", "usage")} for e in HISTORY]
    without = to_markdown(bare, model="m", now=NOW, labels=labels("en"))
    kept = [line for line in with_meta.split("\n") if not line.startswith("<!-- chat-meta ")]
    assert "\n".join(kept) == without


@pytest.mark.parametrize("lang", ["en", "zh-cn"])
def test_an_export_imported_and_exported_again_is_identical_totals_included(lang) -> None:
    first = export(HISTORY, lang)
    assert "3,630 (3,200 prompt + 430 reply)" in first
    again = export(from_markdown(first), lang)
    assert again == first


def test_the_totals_line_is_there_and_counts_every_reply() -> None:
    text = export(HISTORY, "en")
    assert "- Tokens: 3,630 (3,200 prompt + 430 reply)\n" in text
    assert "- Model: deepseek-chat, gpt-4o-mini\n" in text


def test_an_old_export_without_comments_imports_as_before() -> None:
    old = (
        "# Chat export\n\n- Exported: 2026-11-21 16:30:12 +08:00\n- Model: gpt-4o-mini\n\n"
        "---\n\n<!-- chat-message role=user -->\n### You\n\nHi\n\n"
        "<!-- chat-message role=assistant status=done -->\n### Assistant\n\nHello!\n"
    )
    assert from_markdown(old) == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "status": "done", "content": "Hello!"},
    ]


def with_meta_line(line: str) -> str:
    return (
        "<!-- chat-message role=user -->\n### You\n\nHi\n\n"
        f"<!-- chat-message role=assistant status=done -->\n{line}\n### Assistant\n\nHello!\n"
    )


BAD = {
    "not json": "<!-- chat-meta {model: gpt} -->",
    "model not a string": '<!-- chat-meta {"model": 5} -->',
    "negative tokens": '<!-- chat-meta {"usage": {"prompt_tokens": -1}} -->',
    "tokens as text": '<!-- chat-meta {"usage": {"prompt_tokens": "12"}} -->',
    "tokens as bool": '<!-- chat-meta {"usage": {"completion_tokens": true}} -->',
    "absurd tokens": '<!-- chat-meta {"usage": {"prompt_tokens": 1e30}} -->',
    "usage not an object": '<!-- chat-meta {"usage": [1, 2]} -->',
    "a list": "<!-- chat-meta [1, 2] -->",
    "too long": '<!-- chat-meta {"model": "' + "m" * META_MAX_CHARS + '"} -->',
    "deep nesting": "<!-- chat-meta " + '{"usage": ' * 500 + "1" + "}" * 500 + " -->",
}


@pytest.mark.parametrize("line", BAD.values(), ids=BAD.keys())
def test_bad_metadata_is_ignored_and_never_becomes_text(line: str) -> None:
    assert from_markdown(with_meta_line(line)) == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "status": "done", "content": "Hello!"},
    ]


def test_unknown_keys_are_dropped_and_the_rest_kept() -> None:
    line = '<!-- chat-meta {"model": "m", "html": "<b>x</b>", "usage": {"prompt_tokens": 3}} -->'
    assert from_markdown(with_meta_line(line))[1] == {
        "role": "assistant",
        "status": "done",
        "model": "m",
        "usage": {"prompt_tokens": 3},
        "content": "Hello!",
    }


def test_a_model_id_cannot_close_the_comment() -> None:
    entry = {"role": "assistant", "content": "x", "model": "evil --> <script>alert(1)</script>"}
    line = meta_line(entry)
    assert line.count("-->") == 1 and line.endswith(" -->")
    assert "<script>" not in line
    history = [{"role": "user", "content": "q"}, entry]
    text = to_markdown(history, model="m", now=NOW, labels=labels("en"))
    assert from_markdown(text)[1]["model"] == entry["model"]


def test_a_meta_line_inside_a_reply_is_text() -> None:
    content = 'Look:\n<!-- chat-meta {"model": "fake"} -->\nend'
    history = [{"role": "user", "content": "q"}, {"role": "assistant", "content": content}]
    text = to_markdown(history, model="m", now=NOW, labels=labels("en"))
    assert from_markdown(text)[1] == {"role": "assistant", "content": content}


def test_the_fingerprint_is_the_conversation_not_the_export_time() -> None:
    later = document(
        HISTORY, lang="zh-cn", prices=PRICES, default_model="x", now=NOW + timedelta(days=3)
    )
    assert fingerprint(from_markdown(later)) == fingerprint(from_markdown(export(HISTORY)))
    changed = [*HISTORY[:-1], {**HISTORY[-1], "content": "Half an answer"}]
    assert fingerprint(from_markdown(export(changed))) != fingerprint(from_markdown(later))
    assert import_id("a", "f") != import_id("b", "f")
    assert re.fullmatch(r"[0-9a-f]{32}", import_id("a", "f"))


@pytest.fixture
def records(tmp_path) -> Records:
    records = Records(sqlite_url(tmp_path))
    records.upgrade()
    yield records
    records.close()


def test_records_on_the_same_export_twice_gives_one_conversation(records) -> None:
    entries = from_markdown(export(HISTORY))
    first = import_once(records, "alice", entries)
    second = import_once(records, "alice", from_markdown(export(HISTORY)))
    assert not first.already_there and second.already_there
    assert second.conversation_id == first.conversation_id
    assert len(records.list_conversations("alice")) == 1
    assert second.history == records.history("alice", first.conversation_id)
    # What the records hold exports as the file did, totals included.
    assert export(records.history("alice", first.conversation_id)) == export(HISTORY)
    summary = records.conversation("alice", first.conversation_id)
    assert (summary["prompt_tokens"], summary["completion_tokens"]) == (3200, 430)


def test_records_on_each_owner_gets_their_own_and_a_changed_file_is_new(records) -> None:
    entries = from_markdown(export(HISTORY))
    mine = import_once(records, "alice", entries)
    theirs = import_once(records, "bob", entries)
    assert not theirs.already_there and theirs.conversation_id != mine.conversation_id
    longer = from_markdown(export([*HISTORY, {"role": "user", "content": "more"}]))
    assert not import_once(records, "alice", longer).already_there
    assert len(records.list_conversations("alice")) == 2


def test_records_on_a_deleted_import_can_be_imported_again(records) -> None:
    entries = from_markdown(export(HISTORY))
    first = import_once(records, "alice", entries)
    records.delete("alice", first.conversation_id)
    again = import_once(records, "alice", entries)
    assert not again.already_there
    assert len(records.list_conversations("alice")) == 1


@pytest.mark.parametrize("kept_in", ["records", "browser"])
def test_a_cleared_import_takes_the_files_messages_again(kept_in, records) -> None:
    store = records if kept_in == "records" else BrowserRecords({})
    entries = from_markdown(export(HISTORY))
    first = import_once(store, "alice", entries)
    assert store.clear("alice", first.conversation_id)
    again = import_once(store, "alice", entries)
    assert not again.already_there and again.conversation_id == first.conversation_id
    assert again.history == entries
    assert export(store.history("alice", first.conversation_id)) == export(HISTORY)
    assert [c["id"] for c in store.list_conversations("alice")] == [first.conversation_id]


def test_records_off_the_same_export_twice_gives_one_conversation() -> None:
    browser = BrowserRecords({})
    entries = from_markdown(export(HISTORY))
    first = import_once(browser, "me", entries)
    # The page keeps the copy and sends it back with the next import.
    browser = BrowserRecords(browser.data)
    second = import_once(browser, "me", from_markdown(export(HISTORY)))
    assert second.already_there and second.conversation_id == first.conversation_id
    assert list(browser.data) == [first.conversation_id]
    assert export(browser.history("me", first.conversation_id)) == export(HISTORY)


@pytest.mark.parametrize("status", ["streaming", "pwned", "a" * 17])
def test_a_status_no_reply_ends_with_is_not_imported(status: str) -> None:
    text = with_meta_line('<!-- chat-meta {"model": "m"} -->').replace("done", status)
    assert from_markdown(text)[1] == {"role": "assistant", "model": "m", "content": "Hello!"}


def test_an_interrupted_reply_keeps_its_status() -> None:
    history = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "par", "status": "interrupted"},
    ]
    text = to_markdown(history, model="m", now=NOW, labels=labels("en"))
    assert from_markdown(text)[1]["status"] == "interrupted"


def test_usage_the_page_holds_badly_is_left_out_and_the_model_kept() -> None:
    entry = {"role": "assistant", "content": "a", "model": "m", "usage": {"prompt_tokens": -3}}
    assert meta_line(entry) == '<!-- chat-meta {"model": "m"} -->'
    assert meta_line({"role": "assistant", "content": "a", "model": 7}) is None
