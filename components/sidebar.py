"""The conversation sidebar: new, switch, rename, delete, search."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import feffery_antd_components as fac
from dash import dcc, html

from components import ids
from components.antd import dialog_buttons
from i18n import t

# An exported conversation far longer than any real one still fits.
IMPORT_MAX_BYTES = 2_000_000


def sidebar(*, lang: str, records_enabled: bool) -> html.Aside:
    """The collapsible list of conversations (the server's records)."""
    return html.Aside(
        [
            dcc.Store(id=ids.SIDEBAR_REFRESH, data=0),
            # With RECORDS_ENABLED=false the conversations live here, in the browser alone.
            dcc.Store(id=ids.LOCAL_RECORDS, storage_type="local"),
            dcc.Store(id=ids.RENAME_TARGET),
            fac.AntdButton(
                t(lang, "sidebar.new"),
                autoInsertSpace=False,
                id=ids.SIDEBAR_NEW,
                icon=fac.AntdIcon(icon="antd-plus"),
                block=True,
                className="sidebar-new",
            ),
            dcc.Upload(
                fac.AntdButton(
                    t(lang, "sidebar.import"),
                    autoInsertSpace=False,
                    icon=fac.AntdIcon(icon="antd-upload"),
                    block=True,
                    type="dashed",
                ),
                id=ids.SIDEBAR_IMPORT,
                accept=".md,text/markdown,text/plain",
                max_size=IMPORT_MAX_BYTES,
                className="sidebar-import",
            ),
            fac.AntdInput(
                id=ids.SIDEBAR_SEARCH,
                placeholder=t(lang, "sidebar.search"),
                allowClear=True,
                debounceWait=300,
                prefix=fac.AntdIcon(icon="antd-search"),
                className="sidebar-search",
            ),
            None
            if records_enabled
            else html.Div(t(lang, "sidebar.records_off"), className="sidebar-records-off"),
            html.Div(id=ids.SIDEBAR_LIST, className="sidebar-list"),
            fac.AntdModal(
                fac.AntdInput(id=ids.RENAME_INPUT, maxLength=200),
                id=ids.RENAME_MODAL,
                title=t(lang, "sidebar.rename"),
                okText=t(lang, "sidebar.rename_ok"),
                cancelText=t(lang, "header.cancel"),
                **dialog_buttons(),
                renderFooter=True,
                visible=False,
            ),
        ],
        id=ids.SIDEBAR,
        className="chat-sidebar",
    )


def _day_label(day: date, today: date, lang: str) -> str:
    if day == today:
        return t(lang, "sidebar.today")
    if day == today - timedelta(days=1):
        return t(lang, "sidebar.yesterday")
    return day.isoformat()


def conversation_list(conversations: list[dict], *, active: str | None, lang: str, now: datetime):
    """Newest first, under a heading per day (in the server's local time)."""
    if not conversations:
        return html.Div(t(lang, "sidebar.empty"), className="sidebar-empty")
    children = []
    today = now.date()
    current_day = None
    for conversation in conversations:
        updated = datetime.fromisoformat(conversation["updated_at"]).astimezone(now.tzinfo)
        if updated.date() != current_day:
            current_day = updated.date()
            children.append(html.Div(_day_label(current_day, today, lang), className="sidebar-day"))
        cid = conversation["id"]
        title = conversation["title"] or t(lang, "sidebar.untitled")
        children.append(
            html.Div(
                [
                    html.Div(
                        title,
                        id={"type": ids.SIDEBAR_ITEM, "index": cid},
                        className="sidebar-title",
                        title=title,
                    ),
                    fac.AntdButton(
                        autoInsertSpace=False,
                        id={"type": ids.SIDEBAR_RENAME, "index": cid},
                        icon=fac.AntdIcon(icon="antd-edit"),
                        type="text",
                        size="small",
                        title=t(lang, "sidebar.rename"),
                    ),
                    fac.AntdPopconfirm(
                        fac.AntdButton(
                            autoInsertSpace=False,
                            icon=fac.AntdIcon(icon="antd-delete"),
                            type="text",
                            size="small",
                            danger=True,
                            title=t(lang, "sidebar.delete"),
                        ),
                        id={"type": ids.SIDEBAR_DELETE, "index": cid},
                        title=t(lang, "sidebar.delete_confirm"),
                        okText=t(lang, "sidebar.delete"),
                        cancelText=t(lang, "header.cancel"),
                        **dialog_buttons(danger=True),
                    ),
                ],
                className="sidebar-item sidebar-item-active" if cid == active else "sidebar-item",
                **{"data-conversation": cid},
            )
        )
    return children
