"""One message in the thread."""

from __future__ import annotations

import feffery_antd_components as fac
from dash import html

import i18n
from components import ids
from components.attachments import ATTACHMENTS_CLASS, attachment_list
from components.markdown import markdown_view
from components.usage import quota_notice
from i18n import t
from services.conversation import CUT, INTERRUPTED, LEFT, LENGTH, STOPPED, STREAMING
from services.error_words import error_advice
from services.feedback import DOWN, UP, can_rate
from services.quota import REFUSAL_KIND as QUOTA_KIND

AVATAR = {"user": "antd-user", "assistant": "antd-robot", "error": "antd-warning"}
STATUS_NOTES = {
    STOPPED: "reply.stopped",
    CUT: "reply.cut",
    LENGTH: "reply.length",
    # On record while it streams (another tab, or before a crash was swept), and after.
    STREAMING: "reply.streaming",
    INTERRUPTED: "reply.interrupted",
    LEFT: "reply.left",
}


def _avatar(role: str) -> fac.AntdAvatar:
    return fac.AntdAvatar(
        mode="icon", icon=AVATAR[role], size=32, className=f"chat-avatar chat-avatar-{role}"
    )


def _frame(
    role: str,
    label: str,
    body: list,
    *,
    extra_class: str = "",
    actions: list | None = None,
    above: object = None,
    **props,
) -> html.Div:
    inside = [html.Div(label, className="chat-role"), html.Div(body, className="chat-bubble")]
    if above is not None:
        inside.insert(1, above)  # a question's attachments, over its words (not in the bubble)
    if actions:
        inside.append(html.Div(actions, className="chat-actions"))
    return html.Div(
        [_avatar(role), html.Div(inside, className="chat-body")],
        className=f"chat-message chat-message-{role} {extra_class}".strip(),
        **props,
    )


OUTSIDE_CLASS = "chat-outside-context"


def user_message(
    content: str,
    *,
    lang: str,
    outside: bool = False,
    index: int | None = None,
    version: tuple[int, int] | None = None,
    attachments: object = None,
) -> html.Div:
    """The user's words, shown verbatim (React escapes them; no Markdown). With its place in
    the thread (`index`), it can be edited, and shows its versions (`‹ k / n ›`). Its
    `attachments` (the entry's refs) show above the words."""
    text = [html.Div(content, className="chat-user-text")]
    actions = None
    if index is not None:
        actions = [edit_button(index, lang=lang), *version_nav(index, version, lang=lang)]
    extra = OUTSIDE_CLASS if outside else ""
    attached = attachment_list(attachments, lang=lang)
    return _frame(
        "user", t(lang, "role.user"), text, extra_class=extra, actions=actions, above=attached
    )


def assistant_message(
    entry: dict,
    *,
    lang: str,
    outside: bool = False,
    index: int | None = None,
    version: tuple[int, int] | None = None,
    feedback: bool = False,
) -> html.Div:
    """A finished reply: Markdown, then how it ended and the tokens it used. With its place
    in the thread (`index`): regenerate (shown on the newest reply only, by style.css) and its
    versions, and with `feedback` (the server keeps records) 👍 / 👎."""
    body: list = [markdown_view(entry.get("content", ""), lang=lang)]
    note = STATUS_NOTES.get(entry.get("status"))
    if note == "reply.length" and entry.get("quota_cut") is True:
        # Sent with only what was left of the user's day as its max_tokens (api/usage.py).
        note = "reply.quota_length"
    if note:
        body.append(html.Div(t(lang, note), className="chat-reply-note"))
    usage = entry.get("usage") or {}
    meta = []
    if entry.get("model"):
        # Replies can come from different models when the user switches mid-conversation.
        meta.append(html.Span(entry["model"], className="chat-model-tag"))
    if usage.get("completion_tokens") is not None:
        prompt, completion = usage.get("prompt_tokens", 0), usage["completion_tokens"]
        # Some compatible servers report no usage; the server then counts locally.
        key = "reply.estimated" if usage.get("estimated") else "reply.usage"
        meta.append(html.Span(t(lang, key, prompt=prompt, completion=completion)))
    if meta:
        body.append(html.Div(meta, className="chat-usage"))
    context = entry.get("context") or {}
    if context.get("retried"):
        # The upstream refused the conversation as too long; it was retried with less history.
        dropped = context.get("dropped_rounds", 0)
        body.append(html.Div(t(lang, "context.trimmed", n=dropped), className="chat-reply-note"))
    extra = OUTSIDE_CLASS if outside else ""
    # A reply still being written elsewhere (on record as streaming) is not finished yet.
    actions = None
    if entry.get("status") != STREAMING:
        actions = [copy_button(entry, lang=lang)]
        if index is not None:
            actions += [
                regenerate_button(index, lang=lang),
                *version_nav(index, version, lang=lang),
            ]
            if feedback and can_rate("assistant", entry.get("status")):
                actions += feedback_buttons(index, entry.get("feedback"), lang=lang)
    return _frame("assistant", t(lang, "role.assistant"), body, extra_class=extra, actions=actions)


COPY_BUTTON_CLASS = "chat-copy-button"


def copy_button(entry: dict, *, lang: str) -> fac.AntdCopyText:
    """Copies the reply's Markdown source, the stored text itself (not what is drawn).

    The text is a prop, never markup, so a reply cannot run as HTML here. In the stream's
    final event `content` is REPLY_SLOT, and the page fills this prop with the text it holds
    as it fills the Markdown's (components/turn.py).
    """
    copy, copied = t(lang, "reply.copy"), t(lang, "reply.copied")
    return fac.AntdCopyText(
        text=entry.get("content", ""),
        format="text/plain",
        # antd labels the button with these too (its aria-label): "Copy", then "Copied".
        tooltips=[copy, copied],
        locale=i18n.antd_locale(lang),
        className=COPY_BUTTON_CLASS,
    )


REGENERATE_BUTTON_CLASS = "chat-regenerate-button"
EDIT_BUTTON_CLASS = "chat-edit-button"
VERSION_PREV_CLASS = "chat-version-prev"
VERSION_NEXT_CLASS = "chat-version-next"


def _action(label: str, class_name: str, index: int, **data) -> html.Button:
    """A small icon button the page handles itself (assets/chat.js): `data-index` names the
    message's place in the thread. Its icon is drawn by style.css: the finished turn's
    view (the stream's final event) carries each of these, so every byte counts."""
    return html.Button(
        className=class_name,
        **{"aria-label": label, "data-index": index},
        **{f"data-{key}": value for key, value in data.items()},
    )


def regenerate_button(index: int, *, lang: str) -> html.Button:
    """Ask the reply's question again, with the same context; the reply stays a version."""
    return _action(t(lang, "reply.regenerate"), REGENERATE_BUTTON_CLASS, index)


FEEDBACK_UP_CLASS = "chat-feedback-up"
FEEDBACK_DOWN_CLASS = "chat-feedback-down"


def feedback_buttons(index: int, chosen: object, *, lang: str) -> list[html.Button]:
    """👍 and 👎 (toggle buttons: `aria-pressed` says which one is chosen; the class, which
    value each gives). The page stores a click (assets/chat.js, api/feedback.py); 👎 then
    offers a comment box. About 300 bytes a turn in the stream's final event."""
    return [
        html.Button(
            className=class_name,
            **{
                "aria-label": t(lang, key),
                "aria-pressed": "true" if chosen == value else "false",
                "data-index": index,
            },
        )
        for value, class_name, key in (
            (UP, FEEDBACK_UP_CLASS, "feedback.up"),
            (DOWN, FEEDBACK_DOWN_CLASS, "feedback.down"),
        )
    ]


def edit_button(index: int, *, lang: str) -> html.Button:
    """Edit the question in place and ask it again from there (assets/chat.js)."""
    return _action(t(lang, "message.edit"), EDIT_BUTTON_CLASS, index)


def version_nav(index: int, version: tuple[int, int] | None, *, lang: str) -> list:
    """`‹ k / n ›` for a message that has versions (k, n from 1); nothing otherwise. Each
    arrow names the version it shows (`data-version`, from 0)."""
    if not version or version[1] < 2:
        return []
    k, n = version
    prev = _action(t(lang, "version.prev"), VERSION_PREV_CLASS, index, version=k - 2)
    after = _action(t(lang, "version.next"), VERSION_NEXT_CLASS, index, version=k)
    prev.disabled, after.disabled = k <= 1, k >= n
    label = html.Span(
        f"{k} / {n}", className="chat-version-label", title=t(lang, "version.label", k=k, n=n)
    )
    return [html.Span([prev, label, after], className="chat-versions")]


def error_message(
    entry: dict,
    *,
    lang: str,
    index: int | None = None,
    retry: bool = False,
    versions: tuple[int, tuple[int, int]] | None = None,
) -> html.Div:
    """What went wrong, what to do, and a retry button for the question it belongs to.

    `index` is that question's place in the thread: the page asks it again from there.
    `versions`: (its own place, (k, n)) when it stands where there are versions (a
    regenerate that failed), so the earlier answers stay reachable.
    """
    advice, detail = error_advice(entry, lang)
    if entry.get("kind") == QUOTA_KIND:
        advice = quota_notice(entry, lang=lang)  # the budget and when it resets
        detail = detail if detail not in advice else ""
    body: list = [html.Div(advice, className="chat-error-text")]
    if detail:
        body.append(html.Div(t(lang, "error.detail", detail=detail), className="chat-error-detail"))
    if retry:
        body.append(
            fac.AntdButton(
                t(lang, "retry"),
                autoInsertSpace=False,
                id={"type": ids.RETRY_BUTTON, "index": index if index is not None else -1},
                icon=fac.AntdIcon(icon="antd-reload"),
                size="small",
                className="chat-retry-button",
            )
        )
    actions = version_nav(versions[0], versions[1], lang=lang) if versions else None
    return _frame("error", t(lang, "role.error"), body, actions=actions)


def notice(key: str, *, lang: str, **values: object) -> html.Div:
    """A transient problem with the message being composed (empty, too long)."""
    text = html.Div(t(lang, key, **values), className="chat-error-text")
    return _frame("error", t(lang, "role.error"), [text])


LIVE_IDLE_CLASS = "chat-live-idle"
LIVE_ACTIVE_CLASS = "chat-message chat-message-assistant chat-message-live"
LIVE_QUESTION_CLASS = "chat-message chat-message-user chat-message-live-question"


def live_question(*, lang: str) -> html.Div:
    """The question being answered, shown while its reply streams.

    Outside the thread's list on purpose: Dash renders every child of a list again when the
    list changes, so adding the question to it would redraw the whole thread before the first
    token. finish_reply adds question and reply to the list together.
    """
    frame = _frame(
        "user",
        t(lang, "role.user"),
        [html.Div(id=ids.LIVE_QUESTION_TEXT, className="chat-user-text")],
        # The question's attachments, drawn by the page (assets/attach.js) as the thread
        # draws them (components/attachments.py); empty (and hidden) without any.
        above=html.Div(id=ids.LIVE_QUESTION_ATTACHMENTS, className=ATTACHMENTS_CLASS),
        id=ids.LIVE_QUESTION,
    )
    frame.className = LIVE_IDLE_CLASS
    return frame


def live_reply(*, lang: str) -> html.Div:
    """The reply being streamed. Hidden (and not a `.chat-message`) when nothing streams.

    Its text is drawn by the page's own script (assets/chat.js), which reads the stream and
    renders the Markdown into LIVE_MARKDOWN with the component and props the finished reply
    uses (components/turn.py page_config): Dash never sees a token.
    """
    frame = _frame(
        "assistant",
        t(lang, "role.assistant"),
        [html.Div(id=ids.LIVE_MARKDOWN, className="chat-live-markdown")],
        id=ids.LIVE_REPLY,
    )
    frame.className = LIVE_IDLE_CLASS
    return frame
