"""The admin console's callbacks (/admin, ACCOUNTS=true). Every one is `require_admin`: it
answers a caller who is not an enabled admin with a 403, whatever page sent the request.

The console arrives drawn (api/admin.py puts services/admin/view.py `first_screen` in its
layout), so none of these runs when it opens: they answer what the admin changes. Thin: the
figures and tables come from services/admin.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

import feffery_antd_components as fac
from dash import Input, Output, State, callback, clientside_callback, ctx, dcc, no_update
from pydantic import ValidationError

import extensions
import i18n
from api.admin import quota_day_start, require_admin
from api.identity import current_user
from components import admin_ids as ids
from components.admin import CSV_PATH, currency_picker
from i18n import t
from services import export, export_document
from services.accounts import AccountError
from services.admin import tables, usage, view
from services.admin.users import AdminActions

# The longest range the chart draws (days); a longer one is cut to its last days.
MAX_DAYS = 366


def known_language(function):
    """For the console's callbacks, which take the page's language last: anything but a known
    language code there (a forged request) is English, not a 500."""

    @functools.wraps(function)
    def checked(*args):
        *rest, lang = args
        known = isinstance(lang, str) and lang in i18n.LANGUAGES
        return function(*rest, lang if known else i18n.DEFAULT)

    return checked


def _engine():
    return extensions.accounts().engine


def _actions() -> AdminActions:
    return AdminActions(extensions.accounts(), current_user())


def _toast(lang: str, key: str, kind: str = "success", **values) -> fac.AntdMessage:
    return fac.AntdMessage(content=t(lang, key, **values), type=kind)


def _refusal(lang: str, error: AccountError) -> fac.AntdMessage:
    key = error.key if i18n.has(error.key) else "admin.refused"
    return fac.AntdMessage(content=t(lang, key), type="error")


def _date(value: object) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _range(value: object) -> tuple[date, date]:
    """The picked range (UTC days), else the last DEFAULT_DAYS; at most MAX_DAYS long."""
    today = datetime.now(UTC).date()
    picked = [_date(v) for v in value] if isinstance(value, list) and len(value) == 2 else []
    if len(picked) == 2 and all(picked):
        start, end = sorted(picked)
    else:
        start, end = view.default_range(today)
    return max(start, end - timedelta(days=MAX_DAYS - 1)), end


def _page_of(table_pagination: object, table_id: str) -> tuple[int, int]:
    """The page the table asks for; back to page 1 when a filter changed."""
    given = table_pagination if isinstance(table_pagination, dict) else {}
    size = given.get("pageSize")
    current = given.get("current") if ctx.triggered_id == table_id else 1
    return current, size


def _selected(rows: object) -> dict | None:
    return rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], dict) else None


# ---- usage


@callback(
    Output(ids.USAGE_GRAPH, "figure"),
    Output(ids.FEEDBACK_GRAPH, "figure"),
    Output(ids.USAGE_CURRENCY, "options"),
    Output(ids.USAGE_CURRENCY, "value"),
    Output(ids.USAGE_CURRENCY_BOX, "style"),
    Input(ids.USAGE_RANGE, "value"),
    Input(ids.USAGE_METRIC, "value"),
    Input(ids.USAGE_SPLIT, "value"),
    Input(ids.USAGE_CURRENCY, "value"),
    State(ids.LANG, "data"),
    prevent_initial_call=True,
)
@require_admin
@known_language
def draw_usage(picked, metric, split, currency, lang):
    """The usage chart and the feedback rate chart for the picked days; for the cost, in
    the picked currency (the picker lists those spent in the range, shown when several)."""
    metric = metric if metric in usage.METRICS else view.DEFAULT_METRIC
    split = split if split in usage.SPLITS else view.DEFAULT_SPLIT
    start, end = _range(picked)
    charts = view.usage_charts(
        _engine(),
        start,
        end,
        metric,
        split,
        lang=lang,
        currency=currency if isinstance(currency, str) else None,
        prices=extensions.chat_service().prices,
    )
    picker = currency_picker(charts["currencies"], charts["currency"])
    return (
        charts["usage_figure"],
        charts["feedback_figure"],
        picker["options"],
        # Another metric draws no currency: the picked one stays for the way back to the cost.
        picker["value"] if metric == "cost" else no_update,
        picker["style"],
    )


# ---- users


@callback(
    Output(ids.USERS_TABLE, "data"),
    Output(ids.USERS_TABLE, "pagination"),
    Output(ids.USERS_TABLE, "selectedRowKeys"),
    Input(ids.USERS_TABLE, "pagination"),
    Input(ids.USERS_SEARCH, "value"),
    Input(ids.USERS_REFRESH, "data"),
    State(ids.LANG, "data"),
    prevent_initial_call=True,
)
@require_admin
@known_language
def page_users(table_pagination, text, _refresh, lang):
    """One page of users (by name), each with today's tokens and last activity."""
    current, size = _page_of(table_pagination, ids.USERS_TABLE)
    if ctx.triggered_id == ids.USERS_REFRESH and isinstance(table_pagination, dict):
        current = table_pagination.get("current")  # an action keeps the page
    statement = tables.users_query(
        text if isinstance(text, str) else "", day_start=quota_day_start()
    )
    rows, shown = view.table_page(_engine(), "users", statement, current, size, lang=lang)
    return rows, shown, []


clientside_callback(
    "(clicks) => clicks ? true : window.dash_clientside.no_update",
    Output(ids.CREATE_MODAL, "visible"),
    Input(ids.USER_CREATE, "nClicks"),
    prevent_initial_call=True,
)


@callback(
    Output(ids.PASSWORD_MODAL, "visible"),
    Output(ids.PASSWORD_INPUT, "value"),
    Output(ids.QUOTA_MODAL, "visible"),
    Output(ids.QUOTA_INPUT, "value"),
    Output(ids.DELETE_MODAL, "visible"),
    Output(ids.TOAST, "children", allow_duplicate=True),
    Input(ids.USER_PASSWORD, "nClicks"),
    Input(ids.USER_QUOTA, "nClicks"),
    Input(ids.USER_DELETE, "nClicks"),
    State(ids.USERS_TABLE, "selectedRows"),
    State(ids.LANG, "data"),
    prevent_initial_call=True,
)
@require_admin
@known_language
def ask_about_user(_password, _quota, _delete, rows, lang):
    """Open the dialog of the action on the selected user (or say to select one)."""
    user = _selected(rows)
    if user is None:
        return (no_update,) * 5 + (_toast(lang, "admin.select_user", "info"),)
    quota = no_update
    if ctx.triggered_id == ids.USER_QUOTA:
        found = extensions.accounts().user(user.get("key"), include_disabled=True)
        quota = found.daily_tokens if found else None
    return (
        ctx.triggered_id == ids.USER_PASSWORD,
        "",
        ctx.triggered_id == ids.USER_QUOTA,
        quota,
        ctx.triggered_id == ids.USER_DELETE,
        no_update,
    )


def _act(lang: str, change, done_key: str, **values):
    """Run an account change; a toast saying how it went, and the table refreshed."""
    try:
        change()
    except AccountError as error:
        return _refusal(lang, error), no_update
    return _toast(lang, done_key, **values), datetime.now(UTC).timestamp()


@callback(
    Output(ids.TOAST, "children", allow_duplicate=True),
    Output(ids.USERS_REFRESH, "data", allow_duplicate=True),
    Output(ids.CREATE_NAME, "value"),
    Output(ids.CREATE_PASSWORD, "value"),
    Input(ids.CREATE_MODAL, "okCounts"),
    State(ids.CREATE_NAME, "value"),
    State(ids.CREATE_PASSWORD, "value"),
    State(ids.CREATE_ADMIN, "checked"),
    State(ids.LANG, "data"),
    prevent_initial_call=True,
)
@require_admin
@known_language
def create_user(_ok, name, password, admin, lang):
    """Create an account (its name, a password, admin or not)."""
    name = name if isinstance(name, str) else ""
    password = password if isinstance(password, str) else ""
    toast, refresh = _act(
        lang,
        lambda: _actions().create(name, password, admin=bool(admin)),
        "admin.done.create",
        name=name,
    )
    cleared = "" if refresh is not no_update else no_update
    return toast, refresh, cleared, cleared


@callback(
    Output(ids.TOAST, "children", allow_duplicate=True),
    Output(ids.USERS_REFRESH, "data", allow_duplicate=True),
    Input(ids.USER_TOGGLE, "nClicks"),
    Input(ids.USER_ROLE, "nClicks"),
    State(ids.USERS_TABLE, "selectedRows"),
    State(ids.LANG, "data"),
    prevent_initial_call=True,
)
@require_admin
@known_language
def switch_user(_toggle, _role, rows, lang):
    """Disable or enable the selected user; or make them admin / user."""
    user = _selected(rows)
    if user is None:
        return _toast(lang, "admin.select_user", "info"), no_update
    actions = _actions()
    target = extensions.accounts().user(user.get("key"), include_disabled=True)
    if target is None:
        return _refusal(lang, AccountError("accounts.no_such_user")), datetime.now(UTC).timestamp()
    if ctx.triggered_id == ids.USER_ROLE:
        role = "user" if target.is_admin else "admin"
        return _act(
            lang,
            lambda: actions.set_role(target.id, role),
            "admin.done.role",
            name=target.username,
            role=t(lang, f"admin.role.{role}"),
        )
    return _act(
        lang,
        lambda: actions.set_disabled(target.id, not target.disabled),
        "admin.done.enable" if target.disabled else "admin.done.disable",
        name=target.username,
    )


@callback(
    Output(ids.TOAST, "children", allow_duplicate=True),
    Output(ids.USERS_REFRESH, "data", allow_duplicate=True),
    Input(ids.PASSWORD_MODAL, "okCounts"),
    State(ids.PASSWORD_INPUT, "value"),
    State(ids.USERS_TABLE, "selectedRows"),
    State(ids.LANG, "data"),
    prevent_initial_call=True,
)
@require_admin
@known_language
def reset_password(_ok, password, rows, lang):
    """Give the selected user a new password."""
    user = _selected(rows)
    if user is None:
        return _toast(lang, "admin.select_user", "info"), no_update
    password = password if isinstance(password, str) else ""
    return _act(
        lang,
        lambda: _actions().reset_password(user.get("key"), password),
        "admin.done.password",
        name=user.get("username", ""),
    )


@callback(
    Output(ids.TOAST, "children", allow_duplicate=True),
    Output(ids.USERS_REFRESH, "data", allow_duplicate=True),
    Input(ids.QUOTA_MODAL, "okCounts"),
    State(ids.QUOTA_INPUT, "value"),
    State(ids.USERS_TABLE, "selectedRows"),
    State(ids.LANG, "data"),
    prevent_initial_call=True,
)
@require_admin
@known_language
def set_quota(_ok, tokens, rows, lang):
    """Set the selected user's daily tokens (empty: the default, USER_DAILY_TOKENS)."""
    user = _selected(rows)
    if user is None:
        return _toast(lang, "admin.select_user", "info"), no_update
    if isinstance(tokens, float) and tokens.is_integer():
        tokens = int(tokens)
    if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int)):
        return _refusal(lang, AccountError("accounts.bad_quota")), no_update
    return _act(
        lang,
        lambda: _actions().set_quota(user.get("key"), tokens),
        "admin.done.quota",
        name=user.get("username", ""),
    )


@callback(
    Output(ids.TOAST, "children", allow_duplicate=True),
    Output(ids.USERS_REFRESH, "data", allow_duplicate=True),
    Input(ids.DELETE_MODAL, "okCounts"),
    State(ids.DELETE_PURGE, "value"),
    State(ids.USERS_TABLE, "selectedRows"),
    State(ids.LANG, "data"),
    prevent_initial_call=True,
)
@require_admin
@known_language
def delete_user(_ok, keep_or_purge, rows, lang):
    """Delete the selected user, keeping or purging their conversations as asked."""
    user = _selected(rows)
    if user is None:
        return _toast(lang, "admin.select_user", "info"), no_update
    return _act(
        lang,
        lambda: _actions().delete(user.get("key"), purge=keep_or_purge == "purge"),
        "admin.done.delete",
        name=user.get("username", ""),
    )


# ---- conversations


def _filters(text, owner, persona, model, picked) -> tables.ConversationFilter:
    start, end = (
        (_date(picked[0]), _date(picked[1]))
        if isinstance(picked, list) and len(picked) == 2
        else (None, None)
    )
    try:
        return tables.ConversationFilter(
            text=text if isinstance(text, str) else "",
            owner=owner if isinstance(owner, str) else None,
            persona=persona if isinstance(persona, str) else None,
            model=model if isinstance(model, str) else None,
            start=start,
            end=end,
        )
    except ValidationError:
        return tables.ConversationFilter()


def _csv_href(name: str, **query) -> str:
    kept = {key: value for key, value in query.items() if value}
    return CSV_PATH + name + (f"?{urlencode(kept)}" if kept else "")


@callback(
    Output(ids.CONVERSATIONS_TABLE, "data"),
    Output(ids.CONVERSATIONS_TABLE, "pagination"),
    Output(ids.CONVERSATIONS_TABLE, "selectedRowKeys"),
    Output(ids.CONVERSATIONS_CSV, "href"),
    Input(ids.CONVERSATIONS_TABLE, "pagination"),
    Input(ids.CONVERSATIONS_SEARCH, "value"),
    Input(ids.CONVERSATIONS_USER, "value"),
    Input(ids.CONVERSATIONS_PERSONA, "value"),
    Input(ids.CONVERSATIONS_MODEL, "value"),
    Input(ids.CONVERSATIONS_RANGE, "value"),
    State(ids.LANG, "data"),
    prevent_initial_call=True,
)
@require_admin
@known_language
def page_conversations(table_pagination, text, owner, persona, model, picked, lang):
    """One page of everyone's conversations that fit the search and the filters."""
    current, size = _page_of(table_pagination, ids.CONVERSATIONS_TABLE)
    filters = _filters(text, owner, persona, model, picked)
    statement = tables.conversations_query(filters)
    rows, shown = view.table_page(_engine(), "conversations", statement, current, size, lang=lang)
    href = _csv_href(
        "conversations",
        text=filters.text,
        owner=filters.owner,
        persona=filters.persona,
        model=filters.model,
        start=filters.start and filters.start.isoformat(),
        end=filters.end and filters.end.isoformat(),
    )
    return rows, shown, [], href


def _chosen_conversation(keys: object) -> str | None:
    return keys[0] if isinstance(keys, list) and keys and isinstance(keys[0], str) else None


@callback(
    Output(ids.CONVERSATION_DRAWER, "visible"),
    Output(ids.CONVERSATION_DRAWER, "title"),
    Output(ids.CONVERSATION_DRAWER, "children"),
    Output(ids.TOAST, "children", allow_duplicate=True),
    Input(ids.CONVERSATION_OPEN, "nClicks"),
    State(ids.CONVERSATIONS_TABLE, "selectedRowKeys"),
    State(ids.LANG, "data"),
    prevent_initial_call=True,
)
@require_admin
@known_language
def open_conversation(_clicks, keys, lang):
    """Show the selected conversation read-only: its messages as plain text (line breaks
    kept; a reply's Markdown as written), each under who wrote it. Not drawn as Markdown: the
    console's page leaves out the Markdown library, 2.5 MB its first render would wait for
    (api/admin.py CHAT_ONLY_SCRIPTS)."""
    conversation_id = _chosen_conversation(keys)
    found = tables.conversation(_engine(), conversation_id) if conversation_id else None
    if found is None:
        return no_update, no_update, no_update, _toast(lang, "admin.select_conversation", "info")
    extensions.accounts().audit(current_user().username, "conversation.open", found.id)
    blocks = []
    for message in found.messages:
        role = message["role"]
        heading = t(lang, f"role.{role}") if role in ("user", "assistant") else role
        body = fac.AntdParagraph(message["content"] or "", className="admin-message-text")
        blocks.append(
            fac.AntdCard(
                body,
                title=f"{heading} · {view.when(message['created_at'])}",
                size="small",
                className=f"admin-message admin-message-{role}",
            )
        )
    owner = found.username or t(lang, "admin.browser")
    title = f"{found.title or t(lang, 'admin.untitled')} — {owner}"
    return True, title, fac.AntdSpace(blocks, direction="vertical", style={"width": "100%"}), None


@callback(
    Output(ids.DOWNLOAD, "data"),
    Output(ids.TOAST, "children", allow_duplicate=True),
    Input(ids.CONVERSATION_EXPORT, "nClicks"),
    State(ids.CONVERSATIONS_TABLE, "selectedRowKeys"),
    State(ids.LANG, "data"),
    prevent_initial_call=True,
)
@require_admin
@known_language
def export_conversation(_clicks, keys, lang):
    """Download the selected conversation as Markdown (the chat page's export format)."""
    conversation_id = _chosen_conversation(keys)
    found = tables.conversation(_engine(), conversation_id) if conversation_id else None
    if found is None:
        return no_update, _toast(lang, "admin.select_conversation", "info")
    history = extensions.records().history(found.owner, found.id) or []
    if not any(entry.get("role") in ("user", "assistant") for entry in history):
        return no_update, _toast(lang, "export.empty", "info")
    extensions.accounts().audit(current_user().username, "conversation.export", found.id)
    service = extensions.chat_service()
    now = datetime.now(UTC)
    text = export_document.document(
        history,
        lang=lang,
        prices=service.prices,
        default_model=found.model or service.default_model,
        now=now,
    )
    return dcc.send_string(text, export.filename(now), type="text/markdown"), no_update


# ---- feedback and audit


@callback(
    Output(ids.FEEDBACK_TABLE, "data"),
    Output(ids.FEEDBACK_TABLE, "pagination"),
    Output(ids.FEEDBACK_CSV, "href"),
    Input(ids.FEEDBACK_TABLE, "pagination"),
    Input(ids.FEEDBACK_RATING, "value"),
    State(ids.LANG, "data"),
    prevent_initial_call=True,
)
@require_admin
@known_language
def page_feedback(table_pagination, rating, lang):
    """One page of 👍 / 👎, newest first, with the comment, the question and the reply."""
    current, size = _page_of(table_pagination, ids.FEEDBACK_TABLE)
    rating = rating if rating in ("up", "down") else None
    statement = tables.feedback_query(rating)
    rows, shown = view.table_page(_engine(), "feedback", statement, current, size, lang=lang)
    return rows, shown, _csv_href("feedback", rating=rating)


@callback(
    Output(ids.AUDIT_TABLE, "data"),
    Output(ids.AUDIT_TABLE, "pagination"),
    Input(ids.AUDIT_TABLE, "pagination"),
    Input(ids.USERS_REFRESH, "data"),
    State(ids.LANG, "data"),
    prevent_initial_call=True,
)
@require_admin
@known_language
def page_audit(table_pagination, _refresh, lang):
    """One page of the audit log, newest first (refreshed after each action)."""
    current, size = _page_of(table_pagination, ids.AUDIT_TABLE)
    return view.table_page(_engine(), "audit", tables.audit_query(), current, size, lang=lang)
