"""How versions show (issue 16): regenerate and edit buttons, `‹ k / n ›`, the turn's request
field that names them, and the export's note."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from api.schemas import PageTurn
from components.message import (
    EDIT_BUTTON_CLASS,
    REGENERATE_BUTTON_CLASS,
    VERSION_NEXT_CLASS,
    VERSION_PREV_CLASS,
)
from components.thread import render_thread
from components.turn import finished_turn
from services.export import from_markdown
from services.export_document import document
from services.pricing import PriceTable
from tests.unit.test_thread import classes, error, reply, user, walk


def with_class(node: object, name: str) -> list:
    return [c for c in walk(node) if name in classes(c)]


def test_each_question_can_be_edited_and_each_reply_regenerated_by_its_place() -> None:
    history = [user("q1"), reply("a1"), user("q2"), error("timeout"), user("q3"), reply("a3")]
    children = render_thread(history, lang="en", streaming=False)
    edits = with_class(children, EDIT_BUTTON_CLASS)
    assert [getattr(b, "data-index") for b in edits] == [0, 2, 4]
    regenerates = with_class(children, REGENERATE_BUTTON_CLASS)
    # Every finished reply has one; style.css shows the newest turn's only.
    assert [getattr(b, "data-index") for b in regenerates] == [1, 5]
    assert getattr(edits[0], "aria-label") == "Edit"
    assert with_class(children, VERSION_PREV_CLASS) == []


@pytest.mark.parametrize(("lang", "prev"), [("en", "Previous version"), ("zh-cn", "上一个版本")])
def test_versions_show_where_they_are(lang: str, prev: str) -> None:
    history = [user("q1"), reply("a1"), user("q2"), reply("a2")]
    children = render_thread(history, lang=lang, streaming=False, versions={1: (2, 3), 2: (1, 2)})
    (first_prev, second_prev) = with_class(children, VERSION_PREV_CLASS)
    (first_next, second_next) = with_class(children, VERSION_NEXT_CLASS)
    labels = [c.children for c in with_class(children, "chat-version-label")]
    assert labels == ["2 / 3", "1 / 2"]
    # Each arrow names the version it shows, from 0; the ends are disabled.
    assert getattr(first_prev, "data-version") == 0 and getattr(first_next, "data-version") == 2
    assert (first_prev.disabled, first_next.disabled) == (False, False)
    assert (second_prev.disabled, second_next.disabled) == (True, False)
    assert getattr(first_prev, "aria-label") == prev


def test_the_finished_turn_draws_its_versions() -> None:
    view = finished_turn(
        [reply("again")],
        question="q",
        question_index=2,
        retry=True,
        start=0,
        lang="en",
        persona=None,
        versions={3: (2, 2)},
    )
    labels = [c.children for c in with_class(view["props"]["children"], "chat-version-label")]
    assert labels == ["2 / 2"]


def test_the_turn_names_its_versions_in_a_small_checked_form() -> None:
    turn = PageTurn(question="q", versions={"3": [2, 2]})
    assert turn.version_map() == {3: (2, 2)}
    assert PageTurn(question="q").version_map() == {}
    for bad in ({"x": [1, 2]}, {"3": [3, 2]}, {"3": [0, 2]}, {"3": [1]}, {"²": [1, 2]}):
        with pytest.raises(ValidationError):
            PageTurn(question="q", versions=bad)


def test_the_export_says_which_version_it_holds_and_imports_as_before() -> None:
    history = [user("q1"), error("timeout"), user("q1"), reply("a1")]
    text = document(
        history,
        lang="en",
        prices=PriceTable({}),
        default_model="m",
        now=datetime(2026, 12, 6, tzinfo=UTC),
        versions={3: (2, 3)},
    )
    assert "### Assistant (Version 2 of 3)\n\na1" in text
    assert [e["content"] for e in from_markdown(text)] == ["q1", "q1", "a1"]


def test_a_stopped_turn_reports_its_versions_in_the_same_form() -> None:
    from api.schemas import turn_versions

    assert turn_versions({"3": [2, 2]}) == {3: (2, 2)}
    for bad in (None, "3", {"3": [2, 1]}, {"3": ["2", 2]}, {"3": [True, 2]}, [1, 2]):
        assert turn_versions(bad) == {}


def test_a_failed_or_unanswered_regenerate_keeps_the_earlier_answers_in_reach() -> None:
    failed = [user("q1"), error("timeout")]
    children = render_thread(failed, lang="en", streaming=False, versions={1: (2, 2)})
    (prev,) = with_class(children, VERSION_PREV_CLASS)
    assert getattr(prev, "data-index") == 1 and getattr(prev, "data-version") == 0
    unanswered = render_thread([user("q1")], lang="en", streaming=False, versions={1: (3, 3)})
    assert [c.children for c in with_class(unanswered, "chat-version-label")] == ["3 / 3"]
