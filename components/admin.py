"""The admin console's page (/admin): totals, the usage chart, and the users, conversations,
feedback and audit tables. Layout only: it is drawn with the data of its first screen
(services/admin/view.py), and callbacks/admin.py answers what the admin changes.

Every text that comes from the records (names, titles, comments, messages) reaches the page
as a table cell or a Markdown view with raw HTML off, never as HTML.
"""

from __future__ import annotations

from datetime import date

import feffery_antd_components as fac
from dash import dcc, html

import i18n
from components import admin_ids as ids
from components.antd import dialog_buttons
from components.layout import PRIMARY_COLOR
from i18n import t
from services.admin.usage import METRICS, SPLITS
from services.admin.view import (
    DEFAULT_METRIC,
    DEFAULT_SPLIT,
    costs_text,
    default_range,
    pagination,
)

ADMIN_PATH = "/admin"
CSV_PATH = "/admin/csv/"
PERIODS = ("today", "week", "month")
SECTION_PREFIX = "admin-section-"
TOTALS = ("active_users", "conversations", "tokens", "cost")


def _columns(lang: str, names: list[str]) -> list[dict]:
    return [{"title": t(lang, f"admin.col.{name}"), "dataIndex": name} for name in names]


USER_COLUMNS = [
    "username",
    "role",
    "status",
    "daily_tokens",
    "tokens_today",
    "last_active_at",
    "created_at",
]
CONVERSATION_COLUMNS = ["updated_at", "username", "title", "persona", "model", "messages"]
FEEDBACK_COLUMNS = ["at", "rating", "comment", "username", "title", "question", "reply"]
AUDIT_COLUMNS = ["at", "actor", "action", "target", "detail"]


def table(
    table_id: str, columns: list[str], *, lang: str, page=None, select: bool = False
) -> fac.AntdTable:
    """A table paged by the server: `page` is (rows, pagination) of its first page; the
    others come from a callback."""
    props = {"rowSelectionType": "radio", "selectedRowKeys": []} if select else {}
    rows, shown = page or ([], pagination(lang=lang))
    return fac.AntdTable(
        id=table_id,
        columns=_columns(lang, columns),
        data=rows,
        mode="server-side",
        pagination=shown,
        bordered=False,
        size="small",
        locale=i18n.antd_locale(lang),
        emptyContent=t(lang, "admin.empty"),
        **props,
    )


def csv_link(name: str, *, lang: str, link_id: str | None = None) -> html.A:
    props = {"id": link_id} if link_id else {}
    return html.A(
        t(lang, "admin.csv"),
        href=CSV_PATH + name,
        download=f"{name}.csv",
        className="admin-csv-link",
        **props,
    )


def button(button_id: str, label: str, **props) -> fac.AntdButton:
    return fac.AntdButton(label, id=button_id, autoInsertSpace=False, **props)


def totals_block(overview: dict | None, *, lang: str) -> list:
    """Three cards (today, this week, this month) of four figures each."""
    overview = overview or {}
    cards = []
    for period in PERIODS:
        values = overview.get(period) or {}
        figures = [
            fac.AntdStatistic(
                title=t(lang, f"admin.total.{name}"),
                # The cost is text: one amount per currency, side by side, never one sum.
                value=costs_text(values.get(name)) if name == "cost" else values.get(name, 0),
                precision=0,
                showGroupSeparator=True,
                valueStyle={"fontSize": 20},
                className=f"admin-total-{name}",
            )
            for name in TOTALS
        ]
        cards.append(
            fac.AntdCol(
                fac.AntdCard(
                    html.Div(figures, className="admin-figures"),
                    title=t(lang, f"admin.period.{period}"),
                    size="small",
                ),
                xs=24,
                lg=8,
            )
        )
    return [fac.AntdRow(cards, gutter=[12, 12])]


def _select(select_id: str, placeholder: str, options: list, **props) -> fac.AntdSelect:
    return fac.AntdSelect(
        id=select_id,
        options=options,
        placeholder=placeholder,
        allowClear=True,
        style={"minWidth": 160},
        **props,
    )


def currency_picker(currencies: list[str], value: str | None) -> dict:
    """The chart's currency picker: its options, its value, and its box's style (shown only
    when the cost is drawn and more than one currency was spent)."""
    return {
        "options": [{"label": code, "value": code} for code in currencies],
        "value": value,
        "style": {"display": "inline-flex", "alignItems": "center", "gap": 8}
        if len(currencies) > 1
        else {"display": "none"},
    }


def usage_tab(*, lang: str, today: date, screen: dict) -> html.Div:
    picker = currency_picker(screen.get("currencies") or [], screen.get("currency"))
    return html.Div(
        [
            fac.AntdSpace(
                [
                    fac.AntdDateRangePicker(
                        id=ids.USAGE_RANGE,
                        value=[day.isoformat() for day in default_range(today)],
                        format="YYYY-MM-DD",
                        allowClear=False,
                        locale=i18n.antd_locale(lang),
                    ),
                    fac.AntdSegmented(
                        id=ids.USAGE_METRIC,
                        value=DEFAULT_METRIC,
                        options=[
                            {"label": t(lang, f"admin.metric.{m}"), "value": m} for m in METRICS
                        ],
                    ),
                    fac.AntdSelect(
                        id=ids.USAGE_SPLIT,
                        value=DEFAULT_SPLIT,
                        allowClear=False,
                        style={"minWidth": 140},
                        options=[
                            {"label": t(lang, f"admin.split.{s}"), "value": s} for s in SPLITS
                        ],
                    ),
                    html.Span(
                        [
                            fac.AntdText(t(lang, "admin.currency"), type="secondary"),
                            fac.AntdSegmented(
                                id=ids.USAGE_CURRENCY,
                                options=picker["options"],
                                value=picker["value"],
                            ),
                        ],
                        id=ids.USAGE_CURRENCY_BOX,
                        className="admin-usage-currency",
                        style=picker["style"],
                    ),
                ],
                wrap=True,
            ),
            dcc.Graph(
                id=ids.USAGE_GRAPH,
                figure=screen.get("usage_figure"),
                config={"displaylogo": False, "responsive": True},
                className="admin-graph",
            ),
            dcc.Graph(
                id=ids.FEEDBACK_GRAPH,
                figure=screen.get("feedback_figure"),
                config={"displaylogo": False, "responsive": True},
                className="admin-graph admin-graph-small",
            ),
        ]
    )


def users_tab(*, lang: str, screen: dict) -> html.Div:
    return html.Div(
        [
            fac.AntdSpace(
                [
                    fac.AntdInput(
                        id=ids.USERS_SEARCH,
                        placeholder=t(lang, "admin.users.search"),
                        allowClear=True,
                        debounceWait=300,
                        maxLength=200,
                        style={"width": 220},
                    ),
                    button(ids.USER_CREATE, t(lang, "admin.users.create"), type="primary"),
                    button(ids.USER_TOGGLE, t(lang, "admin.users.toggle")),
                    button(ids.USER_ROLE, t(lang, "admin.users.role")),
                    button(ids.USER_PASSWORD, t(lang, "admin.users.password")),
                    button(ids.USER_QUOTA, t(lang, "admin.users.quota")),
                    button(ids.USER_DELETE, t(lang, "admin.users.delete"), danger=True),
                    csv_link("users", lang=lang),
                ],
                wrap=True,
            ),
            table(ids.USERS_TABLE, USER_COLUMNS, lang=lang, page=screen.get("users"), select=True),
            dcc.Store(id=ids.USERS_REFRESH, data=0),
            fac.AntdModal(
                fac.AntdSpace(
                    [
                        fac.AntdInput(
                            id=ids.CREATE_NAME,
                            placeholder=t(lang, "admin.users.name"),
                            maxLength=32,
                        ),
                        fac.AntdInput(
                            id=ids.CREATE_PASSWORD,
                            mode="password",
                            placeholder=t(lang, "admin.users.new_password"),
                        ),
                        fac.AntdCheckbox(id=ids.CREATE_ADMIN, label=t(lang, "admin.users.admin")),
                    ],
                    direction="vertical",
                    style={"width": "100%"},
                ),
                id=ids.CREATE_MODAL,
                title=t(lang, "admin.users.create"),
                okText=t(lang, "admin.ok"),
                cancelText=t(lang, "header.cancel"),
                renderFooter=True,
                **dialog_buttons(),
            ),
            fac.AntdModal(
                fac.AntdInput(
                    id=ids.PASSWORD_INPUT,
                    mode="password",
                    placeholder=t(lang, "admin.users.new_password"),
                ),
                id=ids.PASSWORD_MODAL,
                title=t(lang, "admin.users.password"),
                okText=t(lang, "admin.ok"),
                cancelText=t(lang, "header.cancel"),
                renderFooter=True,
                **dialog_buttons(),
            ),
            fac.AntdModal(
                fac.AntdSpace(
                    [
                        fac.AntdText(t(lang, "admin.users.quota_hint")),
                        fac.AntdInputNumber(
                            id=ids.QUOTA_INPUT, min=0, step=1000, precision=0, style={"width": 200}
                        ),
                    ],
                    direction="vertical",
                ),
                id=ids.QUOTA_MODAL,
                title=t(lang, "admin.users.quota"),
                okText=t(lang, "admin.ok"),
                cancelText=t(lang, "header.cancel"),
                renderFooter=True,
                **dialog_buttons(),
            ),
            fac.AntdModal(
                fac.AntdRadioGroup(
                    id=ids.DELETE_PURGE,
                    value="keep",
                    direction="vertical",
                    options=[
                        {"label": t(lang, "admin.users.delete_keep"), "value": "keep"},
                        {"label": t(lang, "admin.users.delete_purge"), "value": "purge"},
                    ],
                ),
                id=ids.DELETE_MODAL,
                title=t(lang, "admin.users.delete"),
                okText=t(lang, "admin.users.delete"),
                cancelText=t(lang, "header.cancel"),
                renderFooter=True,
                **dialog_buttons(danger=True),
            ),
        ]
    )


def conversations_tab(*, lang: str, screen: dict) -> html.Div:
    options = screen.get("options") or {}
    return html.Div(
        [
            fac.AntdSpace(
                [
                    fac.AntdInput(
                        id=ids.CONVERSATIONS_SEARCH,
                        placeholder=t(lang, "admin.conversations.search"),
                        allowClear=True,
                        debounceWait=300,
                        maxLength=200,
                        style={"width": 220},
                    ),
                    _select(
                        ids.CONVERSATIONS_USER,
                        t(lang, "admin.split.user"),
                        options.get("user", []),
                        showSearch=True,
                        optionFilterProp="label",
                    ),
                    _select(
                        ids.CONVERSATIONS_PERSONA,
                        t(lang, "admin.split.persona"),
                        options.get("persona", []),
                    ),
                    _select(
                        ids.CONVERSATIONS_MODEL,
                        t(lang, "admin.split.model"),
                        options.get("model", []),
                    ),
                    fac.AntdDateRangePicker(
                        id=ids.CONVERSATIONS_RANGE,
                        format="YYYY-MM-DD",
                        locale=i18n.antd_locale(lang),
                    ),
                    button(ids.CONVERSATION_OPEN, t(lang, "admin.conversations.open")),
                    button(ids.CONVERSATION_EXPORT, t(lang, "admin.conversations.export")),
                    csv_link("conversations", lang=lang, link_id=ids.CONVERSATIONS_CSV),
                ],
                wrap=True,
            ),
            table(
                ids.CONVERSATIONS_TABLE,
                CONVERSATION_COLUMNS,
                lang=lang,
                page=screen.get("conversations"),
                select=True,
            ),
            fac.AntdDrawer(
                id=ids.CONVERSATION_DRAWER,
                visible=False,
                width="min(720px, 100vw)",
                title=t(lang, "admin.conversations.open"),
            ),
        ]
    )


def feedback_tab(*, lang: str, screen: dict) -> html.Div:
    return html.Div(
        [
            fac.AntdSpace(
                [
                    fac.AntdSegmented(
                        id=ids.FEEDBACK_RATING,
                        value="all",
                        options=[
                            {"label": t(lang, f"admin.rating.{r}"), "value": r}
                            for r in ("all", "up", "down")
                        ],
                    ),
                    csv_link("feedback", lang=lang, link_id=ids.FEEDBACK_CSV),
                ],
                wrap=True,
            ),
            table(ids.FEEDBACK_TABLE, FEEDBACK_COLUMNS, lang=lang, page=screen.get("feedback")),
        ]
    )


def audit_tab(*, lang: str, screen: dict) -> html.Div:
    return html.Div(
        [
            csv_link("audit", lang=lang),
            table(ids.AUDIT_TABLE, AUDIT_COLUMNS, lang=lang, page=screen.get("audit")),
        ]
    )


def console(*, lang: str, today: date, screen: dict | None = None) -> fac.AntdConfigProvider:
    """The console for an admin, drawn with `screen` (services/admin/view.py first_screen):
    it arrives with its figures and first pages; callbacks/admin.py answers what is changed."""
    screen = screen or {}
    sections = [
        ("usage", usage_tab(lang=lang, today=today, screen=screen)),
        ("users", users_tab(lang=lang, screen=screen)),
        ("conversations", conversations_tab(lang=lang, screen=screen)),
        ("feedback", feedback_tab(lang=lang, screen=screen)),
        ("audit", audit_tab(lang=lang, screen=screen)),
    ]
    content = html.Div(
        [
            dcc.Store(id=ids.LANG, data=lang),
            dcc.Download(id=ids.DOWNLOAD),
            html.Div(id=ids.TOAST),
            html.Header(
                [
                    html.H1(t(lang, "admin.title"), className="admin-title"),
                    html.A(t(lang, "admin.back"), href="/", className="admin-back"),
                ],
                className="admin-header",
            ),
            html.Nav(
                [
                    html.A(t(lang, f"admin.tab.{key}"), href=f"#{SECTION_PREFIX}{key}")
                    for key, _ in sections
                ],
                className="admin-nav",
                **{"aria-label": t(lang, "admin.title")},
            ),
            html.Div(totals_block(screen.get("totals"), lang=lang), id=ids.TOTALS),
            # One page of sections (not tabs): every table is drawn with the page, and the
            # links above jump to each.
            *(
                html.Section(
                    [html.H2(t(lang, f"admin.tab.{key}"), className="admin-section-title"), body],
                    id=f"{SECTION_PREFIX}{key}",
                    className="admin-section",
                )
                for key, body in sections
            ),
        ],
        id=ids.ROOT,
        className="admin-root",
        lang=i18n.html_lang(lang),
    )
    return fac.AntdConfigProvider(
        content, primaryColor=PRIMARY_COLOR, locale=i18n.antd_locale(lang), wavesDisabled=True
    )


def forbidden(*, lang: str) -> html.Div:
    """What a visitor who is not an admin gets instead of the console."""
    return html.Div(
        [html.H1(t(lang, "admin.forbidden_title")), html.P(t(lang, "admin.forbidden"))],
        className="admin-forbidden",
        lang=i18n.html_lang(lang),
    )
