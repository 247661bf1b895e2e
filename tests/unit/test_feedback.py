"""👍 / 👎 on replies (issue 17 §3): the records' rule, versions, the exports and the buttons."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from dash import html
from flask import Flask
from sqlalchemy import select

from components.message import assistant_message
from components.thread import render_thread
from components.turn import page_config
from services import export, export_document
from services.feedback import MAX_COMMENT_CHARS, can_rate, clean_comment
from services.pricing import PriceTable
from services.records.guarded import GuardedRecords
from services.records.models import ArchivedFeedback
from services.records.repository import Records
from tests.records_db import sqlite_url

QUESTION = {"role": "user", "content": "How do I boil an egg?"}
ANSWER = {
    "role": "assistant",
    "content": "Seven minutes.",
    "model": "gpt-4o-mini",
    "usage": {"prompt_tokens": 9, "completion_tokens": 3},
    "status": "done",
}
ERROR = {"role": "error", "kind": "rate_limit", "detail": "429"}
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def records(tmp_path) -> Records:
    records = Records(sqlite_url(tmp_path))
    records.upgrade()
    yield records
    records.close()


def conversation(records: Records, *entries: dict, owner: str = "alice") -> str:
    cid = records.create_conversation(owner)
    for entry in entries or (QUESTION, ANSWER):
        assert records.add_message(owner, cid, entry)
    return cid


def feedback_of(records: Records, cid: str, at: int = 1, owner: str = "alice") -> dict:
    entry = records.history(owner, cid)[at]
    return {key: value for key, value in entry.items() if key.startswith("feedback")}


def archived(records: Records, cid: str) -> list[tuple]:
    with records.engine.connect() as connection:
        rows = connection.execute(
            select(
                ArchivedFeedback.question,
                ArchivedFeedback.reply,
                ArchivedFeedback.feedback,
                ArchivedFeedback.feedback_comment,
            ).where(ArchivedFeedback.conversation_id == cid)
        ).all()
    return [tuple(row) for row in rows]


class FeedbackRecords:
    """The records' side; also run on PostgreSQL (tests/integration/test_feedback_postgres.py)
    with its own `records` fixture."""

    def test_a_reply_takes_up_then_down_with_a_comment_then_nothing(self, records):
        cid = conversation(records)
        stored = records.set_feedback("alice", cid, 1, "up", length=2)
        assert stored["feedback"] == "up" and stored["feedback_comment"] is None
        kept = feedback_of(records, cid)
        assert kept == {"feedback": "up", "feedback_at": stored["feedback_at"]}
        assert datetime.fromisoformat(kept["feedback_at"]).utcoffset() == timedelta(0)

        # The other one changes it; a comment goes with 👎 (stripped of blanks around it).
        stored = records.set_feedback("alice", cid, 1, "down", f"  {HOSTILE}\n ")
        assert stored["feedback_comment"] == HOSTILE
        assert feedback_of(records, cid)["feedback_comment"] == HOSTILE
        assert feedback_of(records, cid)["feedback"] == "down"

        # The chosen one clicked again clears it: the entry is as it was before any feedback.
        assert records.set_feedback("alice", cid, 1, None) == {
            "feedback": None,
            "feedback_comment": None,
            "feedback_at": None,
        }
        assert records.history("alice", cid)[1] == ANSWER

    def test_a_comment_goes_with_thumbs_down_only_and_has_a_limit(self, records):
        cid = conversation(records)
        assert records.set_feedback("alice", cid, 1, "up", "nice")["feedback_comment"] is None
        assert "feedback_comment" not in records.history("alice", cid)[1]
        longest = "字" * MAX_COMMENT_CHARS
        assert records.set_feedback("alice", cid, 1, "down", longest)["feedback_comment"] == longest
        with pytest.raises(ValueError):
            records.set_feedback("alice", cid, 1, "down", longest + "!")
        assert feedback_of(records, cid)["feedback_comment"] == longest  # nothing changed
        # Blank is no comment; NUL, which PostgreSQL's text cannot hold, goes.
        assert records.set_feedback("alice", cid, 1, "down", " \n ")["feedback_comment"] is None
        assert records.set_feedback("alice", cid, 1, "down", "a\x00b")["feedback_comment"] == "ab"
        with pytest.raises(ValueError):
            records.set_feedback("alice", cid, 1, "meh")

    def test_another_owner_gets_what_a_missing_conversation_gets(self, records):
        cid = conversation(records)
        assert records.set_feedback("bob", cid, 1, "down", "theirs") is None
        assert records.set_feedback("bob", "0" * 32, 1, "down") is None
        assert feedback_of(records, cid) == {}

    def test_only_a_finished_reply_takes_feedback(self, records):
        cid = conversation(records, QUESTION, ANSWER, ERROR, QUESTION)
        assert records.set_feedback("alice", cid, 0, "up") is None  # a question
        assert records.set_feedback("alice", cid, 2, "up") is None  # an error
        assert records.set_feedback("alice", cid, 4, "up") is None  # no such message
        # A reply still being written takes none, nor one a crash left interrupted.
        row = records.open_reply("alice", cid, "So far", model="gpt-4o-mini", writer="h:1:2")
        assert row is not None
        assert records.set_feedback("alice", cid, 4, "up") is None
        records.sweep(silent_since=datetime.now().astimezone(), gone=lambda _writer: True)
        assert records.history("alice", cid)[4]["status"] == "interrupted"
        assert records.set_feedback("alice", cid, 4, "up") is None
        assert records.set_feedback("alice", cid, 1, "up") is not None

    def test_a_thread_of_another_length_is_not_the_records(self, records):
        """Positions are the page's: a page whose thread is not the record (a turn the records
        could not save) would name another message."""
        cid = conversation(records)
        assert records.set_feedback("alice", cid, 1, "up", length=3) is None
        assert feedback_of(records, cid) == {}
        assert records.set_feedback("alice", cid, 1, "up", length=2) is not None

    def test_stopped_cut_and_length_replies_take_feedback(self, records):
        for status in ("stopped", "cut", "length"):
            cid = conversation(records, QUESTION, {**ANSWER, "status": status})
            assert records.set_feedback("alice", cid, 1, "down", status)["feedback"] == "down"

    def test_feedback_survives_switching_versions(self, records):
        cid = conversation(records)
        given = records.set_feedback("alice", cid, 1, "down", "too short")
        # Regenerate: the rated reply becomes version 1 of 2, and the new one is unrated.
        assert records.fork("alice", cid, 1) == [QUESTION]
        second = {**ANSWER, "content": "Seven minutes, then cold water."}
        assert records.add_message("alice", cid, second)
        assert records.history("alice", cid)[1] == second
        records.set_feedback("alice", cid, 1, "up")
        # Back to the first: its 👎, comment and time are as given; then to the second, its 👍.
        first = records.switch_version("alice", cid, 1, 0)
        assert first[1] == {**ANSWER, **given}
        assert records.history("alice", cid)[1] == {**ANSWER, **given}
        again = records.switch_version("alice", cid, 1, 1)
        assert again[1]["feedback"] == "up" and again[1]["content"] == second["content"]
        # Rated on the server's columns too (what the console reads), once more after the move.
        rows = [row for row in records.export() if row["role"] == "assistant"]
        assert [(row["content"], row["feedback"]) for row in rows] == [(second["content"], "up")]

    def test_a_rated_reply_moved_into_a_version_stays_in_the_archive(self, records):
        """A 👎 then a regenerate: the console reads the 👎 from archived_feedback, with its
        question; switching back to it moves it out again (never listed twice)."""
        cid = conversation(records)
        records.set_feedback("alice", cid, 1, "down", "too short")
        records.fork("alice", cid, 1)
        records.add_message("alice", cid, {**ANSWER, "content": "Better."})
        assert archived(records, cid) == [
            (QUESTION["content"], ANSWER["content"], "down", "too short")
        ]
        records.set_feedback("alice", cid, 1, "up")
        records.switch_version("alice", cid, 1, 0)  # the 👎 one shows: the 👍 one is archived
        assert archived(records, cid) == [(QUESTION["content"], "Better.", "up", None)]
        records.clear("alice", cid)
        assert archived(records, cid) == []

    def test_finishing_a_reply_leaves_its_feedback_alone(self, records):
        """Stop marks a reply stopped before its writer ends it (within a second): a 👍 given in
        between stays when the writer writes the reply's final form."""
        cid = conversation(records, QUESTION)
        row = records.open_reply("alice", cid, "So", model="gpt-4o-mini", writer="h:1:2")
        assert records.request_stop("alice", cid)
        assert records.set_feedback("alice", cid, 1, "up")["feedback"] == "up"
        final = {**ANSWER, "content": "So far", "status": "stopped"}
        assert records.finish_reply("alice", cid, row, [final])
        assert feedback_of(records, cid)["feedback"] == "up"

    def test_records_export_has_the_feedback(self, records):
        cid = conversation(records)
        given = records.set_feedback("alice", cid, 1, "down", HOSTILE)
        rows = list(records.export())
        assert [row["feedback"] for row in rows] == [None, "down"]
        assert rows[1]["feedback_comment"] == HOSTILE
        assert rows[1]["feedback_at"] == given["feedback_at"]
        json.dumps(rows)  # the operators' JSON lines


class TestSQLite(FeedbackRecords):
    pass


def test_a_database_that_cannot_be_written_answers_not_stored(tmp_path):
    path = tmp_path / "records.db"
    plain = Records(f"sqlite:///{path}")
    plain.upgrade()
    cid = conversation(plain)
    plain.close()
    store = GuardedRecords(Records(f"sqlite:///file:{path}?mode=ro&uri=true"))
    assert store.set_feedback("alice", cid, 1, "up", length=2) is None
    assert store.saving is False
    assert "feedback" not in store.history("alice", cid)[1]


def test_the_rule_in_one_place():
    assert can_rate("assistant", "done") and can_rate("assistant", None)
    assert not can_rate("assistant", "streaming") and not can_rate("assistant", "interrupted")
    assert not can_rate("assistant", "left") and not can_rate("user", "done")
    assert clean_comment(None) is None and clean_comment("  ") is None
    with pytest.raises(ValueError):
        clean_comment(["not", "text"])


# ---------------------------------------------------------------- the Markdown export

NOW = datetime(2026, 12, 7, 1, 2, 3).astimezone()


def exported(history: list[dict], lang: str = "en") -> str:
    return export_document.document(
        history, lang=lang, prices=PriceTable(), default_model="gpt-4o-mini", now=NOW
    )


def test_the_export_shows_the_feedback_under_its_reply():
    rated = {**ANSWER, "feedback": "down", "feedback_comment": f"Wrong.\n{HOSTILE} *bold*"}
    text = exported([QUESTION, rated, QUESTION, {**ANSWER, "feedback": "up"}, QUESTION, ANSWER])
    lines = text.split("\n")
    reply = lines.index("Seven minutes.")
    assert lines[reply : reply + 5] == [
        "Seven minutes.",
        "",
        "<!-- chat-feedback -->",
        r"Feedback: 👎 — Wrong. \<img src=x onerror=alert\(1\)\> \*bold\*",
        "",
    ]
    assert text.count("Feedback: 👍") == 1 and text.count("<!-- chat-feedback -->") == 2
    assert HOSTILE not in text  # a Markdown viewer shows it as text, not as an image
    assert "反馈: 👎" in exported([QUESTION, rated], lang="zh-cn")


def test_an_import_leaves_the_feedback_out_and_the_reply_whole():
    rated = {**ANSWER, "content": "Line one\n\nLine two", "feedback": "down"}
    rated["feedback_comment"] = "Too long"
    back = export.from_markdown(exported([QUESTION, rated, QUESTION, ANSWER]))
    assert [entry["content"] for entry in back] == [
        QUESTION["content"],
        "Line one\n\nLine two",
        QUESTION["content"],
        ANSWER["content"],
    ]
    assert not any("feedback" in entry for entry in back)
    # The same conversation without feedback exports the same (but for the feedback lines).
    plain = exported([QUESTION, {**rated, "feedback": None}, QUESTION, ANSWER])
    assert exported(back) == plain


# ---------------------------------------------------------------- the buttons


def buttons(component) -> list[html.Button]:
    found = []

    def walk(node):
        if isinstance(node, html.Button) and "chat-feedback" in (node.className or ""):
            found.append(node)
        for child in getattr(node, "children", None) or []:
            if not isinstance(child, str):
                walk(child)

    walk(component)
    return found


def labels_and_pressed(component) -> list[tuple]:
    return [
        (
            b.className,
            b.to_plotly_json()["props"]["aria-label"],
            b.to_plotly_json()["props"]["aria-pressed"],
        )
        for b in buttons(component)
    ]


def test_a_finished_reply_has_both_buttons_and_says_which_is_chosen():
    shown = assistant_message({**ANSWER, "feedback": "down"}, lang="en", index=1, feedback=True)
    assert labels_and_pressed(shown) == [
        ("chat-feedback-up", "Good reply", "false"),
        ("chat-feedback-down", "Bad reply", "true"),
    ]
    assert [b.to_plotly_json()["props"]["data-index"] for b in buttons(shown)] == [1, 1]
    zh = assistant_message(ANSWER, lang="zh-cn", index=3, feedback=True)
    assert labels_and_pressed(zh) == [
        ("chat-feedback-up", "回答很好", "false"),
        ("chat-feedback-down", "回答不好", "false"),
    ]


@pytest.mark.parametrize("status", ["streaming", "interrupted", "left"])
def test_no_buttons_on_a_reply_that_did_not_finish(status):
    assert (
        buttons(assistant_message({**ANSWER, "status": status}, lang="en", index=1, feedback=True))
        == []
    )


def test_no_buttons_without_records_and_none_on_other_messages():
    assert buttons(assistant_message(ANSWER, lang="en", index=1)) == []
    thread = render_thread([QUESTION, ANSWER, ERROR], lang="en", streaming=False, feedback=True)
    assert len(buttons(html.Div(thread))) == 2
    thread = render_thread([QUESTION, ANSWER, ERROR], lang="en", streaming=False)
    assert buttons(html.Div(thread)) == []


@pytest.mark.parametrize(
    ("lang", "comment", "send"),
    [
        ("en", "What was wrong with this reply? (optional)", "Send"),
        ("zh-cn", "这个回答哪里不好？（可选）", "发送"),
    ],
)
def test_the_page_has_the_comment_boxs_words_in_its_language(lang, comment, send):
    with Flask(__name__).test_request_context():
        words = page_config(lang=lang, max_input_chars=10, max_history_rounds=1)["feedback"]
    assert (words["comment"], words["send"], words["maxChars"]) == (comment, send, 1000)
    assert words["url"].endswith("/api/chat/feedback")
    failed = json.dumps(words["failed"], ensure_ascii=False)
    assert ("could not be saved" if lang == "en" else "反馈未能保存") in failed
