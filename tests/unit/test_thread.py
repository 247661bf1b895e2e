"""components.thread / message / markdown: what the thread shows for a stored history."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from components import ids
from components.markdown import BLOCKED_LINK_PREFIX, SAFE_LINK_PREFIXES, markdown_view
from components.message import error_message
from components.thread import render_thread
from services.personas import Persona

USAGE = {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46}


def walk(node: object) -> Iterator[object]:
    """Every Dash component under `node` (itself included), depth first, in page order."""
    if isinstance(node, (list, tuple)):
        for child in node:
            yield from walk(child)
        return
    if node is None or isinstance(node, (str, int, float)):
        return
    yield node
    yield from walk(getattr(node, "children", None))


def texts(node: object) -> list[str]:
    """The visible strings under `node`, in page order."""
    if isinstance(node, (list, tuple)):
        return [text for child in node for text in texts(child)]
    if isinstance(node, str):
        return [node]
    if isinstance(node, (int, float)):
        return [str(node)]
    if node is None:
        return []
    return texts(getattr(node, "children", None))


def classes(node: object) -> set[str]:
    return set((getattr(node, "className", None) or "").split())


def messages(children: list) -> list:
    """The messages of a rendered thread, in page order (each turn has a container)."""
    return [c for c in walk(children) if "chat-message" in classes(c)]


def role_of(message: object) -> str:
    (role,) = [c.removeprefix("chat-message-") for c in classes(message) if c != "chat-message"]
    return role


def retry_buttons(node: object) -> list:
    return [
        c
        for c in walk(node)
        if isinstance(getattr(c, "id", None), dict) and c.id.get("type") == ids.RETRY_BUTTON
    ]


def markdowns(node: object) -> list:
    return [c for c in walk(node) if type(c).__name__ == "FefferyMarkdown"]


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def reply(text: str, status: str = "done", usage: dict | None = None) -> dict:
    return {"role": "assistant", "content": text, "model": "m", "usage": usage, "status": status}


def error(kind: str, detail: str = "") -> dict:
    return {"role": "error", "kind": kind, "detail": detail}


# markdown ------------------------------------------------------------------------------


def test_markdown_view_is_safe_by_default() -> None:
    view = markdown_view("[x](javascript:alert(1)) <b>hi</b>", lang="en")
    assert view.renderHtml is False
    assert view.checkExternalLink is True
    assert view.safeRedirectUrlPrefix == BLOCKED_LINK_PREFIX
    assert not any("javascript" in prefix.lower() for prefix in SAFE_LINK_PREFIXES)
    assert view.markdownStr == "[x](javascript:alert(1)) <b>hi</b>"


def test_markdown_view_locale_follows_the_language() -> None:
    assert markdown_view("", lang="zh-cn").locale == "zh-cn"
    assert markdown_view("", lang="en").locale == "en-us"


# welcome -------------------------------------------------------------------------------


@pytest.mark.parametrize(("lang", "title"), [("en", "How can I help"), ("zh-cn", "有什么可以帮你")])
def test_empty_thread_shows_the_welcome(lang: str, title: str) -> None:
    children = render_thread([], lang=lang, streaming=False)
    # The welcome, then the empty container the first turn goes into.
    assert len(children) == 2
    assert "chat-welcome" in classes(children[0])
    assert children[1].id == "chat-turn-0" and children[1].children is None
    assert any(title in text for text in texts(children))
    examples = [c for c in walk(children) if "chat-example" in classes(c)]
    assert len(examples) == 4
    assert messages(children) == []


def example_prompts(lang: str, persona=None) -> list[str]:
    children = render_thread([], lang=lang, streaming=False, persona=persona)
    return [c.children for c in walk(children) if "chat-example" in classes(c)]


def test_the_welcome_shows_the_personas_own_examples_else_generic_ones() -> None:
    own = {"en": ["Quiz me on fractions"], "zh-cn": ["考考我分数"]}
    persona = Persona(id="t", name="T", system_prompt="x", examples=own)
    assert example_prompts("en", persona) == ["Quiz me on fractions"]
    assert example_prompts("zh-cn", persona) == ["考考我分数"]
    generic = example_prompts("en")
    assert len(generic) == 4 and "Quiz me on fractions" not in generic
    without = Persona(id="u", name="U", system_prompt="x")
    assert example_prompts("en", without) == generic


def test_no_welcome_while_the_first_reply_streams() -> None:
    children = render_thread([user("hi")], lang="en", streaming=True)
    assert not any("chat-welcome" in classes(c) for c in walk(children))
    assert [role_of(m) for m in messages(children)] == ["user"]


# roles ---------------------------------------------------------------------------------


def test_roles_map_to_message_classes() -> None:
    history = [user("q1"), reply("a1"), user("q2"), error("timeout")]
    children = render_thread(history, lang="en", streaming=False)
    # A container per turn; the last one holds the next turn's, empty.
    assert [c.id for c in children] == ["chat-turn-0", "chat-turn-1"]
    assert children[1].children[-1].id == "chat-turn-2"
    assert [role_of(m) for m in messages(children)] == ["user", "assistant", "user", "error"]


def test_user_text_is_verbatim_and_replies_are_markdown() -> None:
    question = "**not bold** <script>alert(1)</script>"
    answer = "# Title\n\n```py\nprint('hi')\n```"
    children = render_thread([user(question), reply(answer)], lang="en", streaming=False)
    user_msg, assistant_msg = messages(children)
    assert question in texts(user_msg)
    assert markdowns(user_msg) == []
    (view,) = markdowns(assistant_msg)
    assert view.markdownStr == answer
    assert view.renderHtml is False


def test_role_labels_follow_the_language() -> None:
    history = [user("q"), reply("a"), user("q2"), error("timeout")]
    labels = [
        texts(c)
        for c in walk(render_thread(history, lang="zh-cn", streaming=False))
        if "chat-role" in classes(c)
    ]
    assert labels == [["你"], ["助手"], ["你"], ["出错了"]]


# errors and retry ----------------------------------------------------------------------


def test_only_the_last_error_offers_a_retry() -> None:
    history = [user("q1"), error("timeout"), user("q2"), error("rate_limited")]
    children = render_thread(history, lang="en", streaming=False)
    first_error, last_error = [m for m in messages(children) if role_of(m) == "error"]
    assert retry_buttons(first_error) == []
    (button,) = retry_buttons(last_error)
    assert button.id == {"type": ids.RETRY_BUTTON, "index": 2}  # the question it asks again
    assert texts(button) == ["Retry"]
    assert len(retry_buttons(children)) == 1


def test_an_answered_error_offers_no_retry() -> None:
    history = [user("q1"), error("timeout"), user("q2"), reply("a2")]
    assert retry_buttons(render_thread(history, lang="en", streaming=False)) == []


def test_no_retry_while_streaming() -> None:
    history = [user("q1"), reply("a1", status="cut"), error("stream_cut")]
    assert len(retry_buttons(render_thread(history, lang="en", streaming=False))) == 1
    assert retry_buttons(render_thread(history, lang="en", streaming=True)) == []


def test_error_shows_advice_and_upstream_detail() -> None:
    history = [user("q"), error("rate_limited", "Rate limit reached for gpt-4o-mini")]
    (err,) = [
        m
        for m in messages(render_thread(history, lang="en", streaming=False))
        if role_of(m) == "error"
    ]
    shown = texts(err)
    assert any("Too many requests" in text for text in shown)
    assert "Details: Rate limit reached for gpt-4o-mini" in shown


def test_error_with_detail_placeholder_fills_it_in() -> None:
    history = [user("q"), error("invalid_request", "model is unknown")]
    shown = texts(render_thread(history, lang="en", streaming=False))
    assert "The request was refused: model is unknown" in shown
    assert not any(text.startswith("Details:") for text in shown)


def test_unanswered_question_is_marked_interrupted_with_a_retry() -> None:
    history = [user("q1"), reply("a1"), user("lost question")]
    children = render_thread(history, lang="en", streaming=False)
    assert [role_of(m) for m in messages(children)] == ["user", "assistant", "user", "error"]
    notice = messages(children)[-1]
    assert any("reloaded or closed" in text for text in texts(notice))
    (button,) = retry_buttons(notice)
    assert button.id == {"type": ids.RETRY_BUTTON, "index": 2}  # the question it asks again


def test_a_reply_cut_by_a_server_stop_offers_a_retry_of_its_question() -> None:
    history = [user("q1"), reply("half an ans", status="interrupted"), error("server_stopping")]
    children = render_thread(history, lang="en", streaming=False)
    shown = texts(children)
    assert any(text.startswith("Interrupted: the server stopped") for text in shown)
    assert any("server restarted" in text for text in shown)
    (button,) = retry_buttons(children)
    assert button.id == {"type": ids.RETRY_BUTTON, "index": 0}


def test_a_reply_a_crash_left_interrupted_shows_its_text_and_a_retry() -> None:
    history = [user("q1"), reply("a1"), user("q2"), reply("half", status="interrupted")]
    children = render_thread(history, lang="en", streaming=False)
    roles = [role_of(m) for m in messages(children)]
    assert roles == ["user", "assistant", "user", "assistant", "error"]
    shown = texts(children)
    assert any(text.startswith("Interrupted: the server stopped") for text in shown)
    (button,) = retry_buttons(children)
    assert button.id == {"type": ids.RETRY_BUTTON, "index": 2}
    # Being answered in another tab: no retry yet.
    live = [user("q1"), reply("a", status="streaming")]
    assert retry_buttons(render_thread(live, lang="en", streaming=False)) == []


@pytest.mark.parametrize("lang", ["en", "zh-cn"])
def test_a_reply_its_page_left_shows_its_text_and_a_retry(lang: str) -> None:
    """Records off, a reload mid-reply: the page kept what it had (assets/chat.js)."""
    from i18n import t

    history = [user("q1"), reply("a1"), user("q2"), reply("half", status="left")]
    children = render_thread(history, lang=lang, streaming=False)
    assert [role_of(m) for m in messages(children)][-2:] == ["assistant", "error"]
    shown = texts(children)
    assert t(lang, "reply.left") in shown
    assert t(lang, "error.interrupted") in shown
    (button,) = retry_buttons(children)
    assert button.id == {"type": ids.RETRY_BUTTON, "index": 2}


def test_a_question_being_answered_is_not_interrupted() -> None:
    children = render_thread([user("q1"), reply("a1"), user("q2")], lang="en", streaming=True)
    assert [role_of(m) for m in messages(children)] == ["user", "assistant", "user"]
    assert retry_buttons(children) == []


# assistant notes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "note"),
    [
        ("stopped", "You stopped this reply."),
        ("cut", "This reply was cut off before it finished; the text above is what arrived."),
        ("length", "The reply reached the maximum length and was cut short."),
        (
            "interrupted",
            "Interrupted: the server stopped before this reply finished. The text above is what "
            "was saved.",
        ),
        ("streaming", "Still being written. Reopen the conversation later to see the rest."),
    ],
)
def test_assistant_status_notes(status: str, note: str) -> None:
    children = render_thread([user("q"), reply("part", status=status)], lang="en", streaming=False)
    notes = [texts(c) for c in walk(children) if "chat-reply-note" in classes(c)]
    assert notes == [[note]]


def test_finished_reply_has_no_status_note() -> None:
    children = render_thread([user("q"), reply("a")], lang="en", streaming=False)
    assert [c for c in walk(children) if "chat-reply-note" in classes(c)] == []


def test_usage_is_shown_when_known() -> None:
    history = [user("q"), reply("a", usage=USAGE), user("q2"), reply("b", usage=None)]
    children = render_thread(history, lang="en", streaming=False)
    usage_lines = [texts(c) for c in walk(children) if "chat-usage" in classes(c)]
    # Each reply names the model that wrote it; token counts only where the upstream sent them.
    assert usage_lines == [["m", "12 prompt + 34 reply tokens"], ["m"]]


def test_usage_in_chinese() -> None:
    children = render_thread([user("q"), reply("a", usage=USAGE)], lang="zh-cn", streaming=False)
    usage_lines = [texts(c) for c in walk(children) if "chat-usage" in classes(c)]
    assert usage_lines == [["m", "提问 12 + 回答 34 tokens"]]


def test_turns_outside_the_context_are_dimmed_under_a_line() -> None:
    asked = {**user("q3"), "context_from": 2}
    history = [user("q1"), reply("a1"), user("q2"), reply("a2"), asked]
    children = render_thread(history, lang="en", streaming=True)
    # The turns' classes decide (style.css): dimmed turns, and the line shown in one turn.
    assert [classes(turn) for turn in children] == [
        {"chat-turn", "chat-outside-context"},
        {"chat-turn", "chat-context-start"},
        {"chat-turn"},
    ]
    assert [turn.to_plotly_json()["props"]["data-question"] for turn in children] == [0, 2, 4]
    line = children[1].children[0]
    assert "chat-context-line" in classes(line)
    assert "no longer sent" in " ".join(texts(line))


def test_no_line_when_everything_fits() -> None:
    children = render_thread([user("q1"), reply("a1"), user("q2")], lang="en", streaming=True)
    assert [classes(turn) for turn in children] == [{"chat-turn"}, {"chat-turn"}]


def test_a_retry_after_context_too_long_is_told() -> None:
    answered = {**reply("a"), "context": {"dropped_rounds": 3, "retried": True}}
    children = render_thread([user("q"), answered], lang="en", streaming=False)
    notes = [texts(c) for c in walk(children) if "chat-reply-note" in classes(c)]
    assert notes == [["3 earlier round(s) were left out so the conversation fits the model."]]


def test_an_upstream_429_says_how_long_to_wait_when_the_upstream_said() -> None:
    limited = {"role": "error", "kind": "rate_limited", "content": "", "retry_after": 42}
    said = [
        texts(c)
        for c in walk([error_message(limited, lang="en")])
        if "chat-error-text" in classes(c)
    ]
    assert said == [["Too many requests right now (429). Retry in 42 seconds."]]
    zh = [
        texts(c)
        for c in walk([error_message(limited, lang="zh-cn")])
        if "chat-error-text" in classes(c)
    ]
    assert zh == [["当前请求过多（429）。请在42 秒后重试。"]]
    unsaid = {**limited, "retry_after": None}
    plain = [
        texts(c)
        for c in walk([error_message(unsaid, lang="en")])
        if "chat-error-text" in classes(c)
    ]
    assert plain == [["Too many requests right now (429). Wait a moment, then retry."]]
