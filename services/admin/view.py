"""What the console shows, as the page's components take it: Plotly figures (JSON), table
rows of text cells and their pagination, and everything the console opens with
(`first_screen`, put in the layout so the page arrives drawn, without a round of callbacks).

No Dash here: plain dicts. The tables show their cells as text. Plotly reads a few tags in
its labels (<b>, <a href>, ...); a model name can come from an imported file, so every name
put in a figure has & < > written as entities, which Plotly shows as those characters.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from decimal import Decimal

from i18n import t
from services.admin import tables, usage
from services.admin.sql import DEFAULT_PAGE_SIZE, PAGE_SIZES
from services.admin.usage import NONE, OTHER, FeedbackDay, Line
from services.pricing import PriceTable, currency_symbol, format_cost

# The chart's range when the console opens: the last 30 days (UTC), today included.
DEFAULT_DAYS = 30
DEFAULT_METRIC = "tokens"
DEFAULT_SPLIT = "model"
# The opening's queries at once: as many as the database usefully runs side by side here.
FIRST_SCREEN_THREADS = 4

DONE_COLOR = "#0b7d62"  # the page's primary colour (components/layout.py PRIMARY_COLOR)
GRID = "rgba(128, 128, 128, 0.2)"


def plain(text: str) -> str:
    """`text` for a Plotly label: shown as written, no tag read."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _label(line: Line, lang: str) -> str:
    if line.key == OTHER:
        return t(lang, "admin.other")
    if line.key == NONE:
        return t(lang, "admin.none")
    if line.label is None:  # an owner that is no account: a browser from before accounts
        return f"{t(lang, 'admin.browser')} {line.key[:6]}"
    return line.label


def _layout(title: str, y_title: str, **extra) -> dict:
    return {
        "title": {"text": title, "x": 0},
        "margin": {"l": 56, "r": 16, "t": 48, "b": 40},
        "xaxis": {"type": "date", "tickformat": "%Y-%m-%d", "gridcolor": GRID},
        "yaxis": {"title": {"text": y_title}, "rangemode": "tozero", "gridcolor": GRID},
        "legend": {"orientation": "h", "y": -0.2},
        # Transparent, with a mid grey for text and grid: readable on the light and the dark
        # theme alike (the page's theme changes in the browser, the figure stays).
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"color": "#8c8c8c"},
        "hovermode": "x unified",
        **extra,
    }


def money(amount: float, currency: str) -> str:
    """An amount of the console's (a float from SQL) as people read it: "$1.20"."""
    return format_cost(Decimal(str(amount)), currency)


def costs_text(costs: dict[str, float] | None) -> str:
    """A period's cost per currency, side by side, never added: "$1.20 · ¥8.40"; "-" for none."""
    return " · ".join(money(amount, code) for code, amount in (costs or {}).items()) or "-"


def usage_figure(
    lines: list[Line], *, metric: str, split: str, lang: str, currency: str | None = None
) -> dict:
    """Stacked bars: `metric` per day, one series per user / persona / model. The cost is in
    one `currency`: its code is in the titles, its symbol on the axis and in the hover."""
    money_chart = metric == "cost" and bool(currency)
    data = []
    for line in lines:
        bar = {"type": "bar", "name": plain(_label(line, lang)), "x": line.days, "y": line.values}
        if money_chart:
            bar["customdata"] = [money(value, currency) for value in line.values]
            bar["hovertemplate"] = "%{customdata}<extra>%{fullData.name}</extra>"
        elif metric == "cost":
            bar["hovertemplate"] = "%{y:,.4~f}<extra>%{fullData.name}</extra>"
        else:
            bar["hovertemplate"] = "%{y:,}<extra>%{fullData.name}</extra>"
        data.append(bar)
    measure = (
        t(lang, "admin.metric.cost_in", currency=plain(currency))
        if money_chart
        else t(lang, f"admin.metric.{metric}")
    )
    title = t(
        lang,
        "admin.chart.usage",
        metric=measure,
        split=t(lang, f"admin.split.{split}").lower(),
    )
    figure_layout = _layout(title, measure, barmode="stack")
    if money_chart:
        symbol = currency_symbol(currency)
        figure_layout["yaxis"].update(
            {"tickprefix": symbol} if symbol else {"ticksuffix": f" {plain(currency)}"}
        )
    if not data:
        figure_layout["annotations"] = [_nothing(lang)]
    return {"data": data, "layout": figure_layout}


def _nothing(lang: str) -> dict:
    return {
        "text": t(lang, "admin.chart.nothing"),
        "showarrow": False,
        "xref": "paper",
        "yref": "paper",
        "x": 0.5,
        "y": 0.5,
    }


def feedback_figure(days: list[FeedbackDay], *, lang: str) -> dict:
    """The share of 👍 among the replies rated each day (and how many were rated)."""
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": t(lang, "admin.chart.feedback_rate"),
            "x": [d.day for d in days],
            "y": [round(d.rate * 100, 1) for d in days],
            "customdata": [[d.up, d.rated] for d in days],
            "hovertemplate": "%{y}% (%{customdata[0]} / %{customdata[1]})<extra></extra>",
            "line": {"color": DONE_COLOR},
        }
    ]
    figure_layout = _layout(t(lang, "admin.chart.feedback"), "%")
    figure_layout["yaxis"]["range"] = [0, 100]
    figure_layout["showlegend"] = False
    if not days:
        figure_layout["annotations"] = [_nothing(lang)]
    return {"data": data, "layout": figure_layout}


def when(value: datetime | None) -> str:
    """A UTC time as the tables show it."""
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def user_cells(row, *, lang: str) -> dict:
    return {
        "key": row.key,
        "username": row.username,
        "role": t(lang, f"admin.role.{row.role}") if row.role in ("admin", "user") else row.role,
        "status": t(lang, "admin.disabled" if row.disabled else "admin.enabled"),
        "disabled": row.disabled,
        "daily_tokens": t(lang, "admin.default_quota")
        if row.daily_tokens is None
        else f"{row.daily_tokens:,}",
        "tokens_today": f"{row.tokens_today:,}",
        "last_active_at": when(row.last_active_at),
        "created_at": when(row.created_at),
    }


def conversation_cells(row, *, lang: str) -> dict:
    return {
        "key": row.key,
        "owner": row.owner,
        "username": row.username or t(lang, "admin.browser"),
        "title": row.title or t(lang, "admin.untitled"),
        "persona": row.persona or "",
        "model": row.model or "",
        "messages": row.messages,
        "updated_at": when(row.updated_at),
    }


def feedback_cells(row, *, lang: str) -> dict:
    return {
        "key": row.key,
        "at": when(row.at),
        "rating": "👍" if row.rating == "up" else "👎",
        "comment": row.comment or "",
        "username": row.username or t(lang, "admin.browser"),
        "title": row.title or t(lang, "admin.untitled"),
        "question": row.question or "",
        "reply": row.reply,
    }


def audit_cells(row, *, lang: str) -> dict:
    return {
        "key": row.key,
        "at": when(row.at),
        "actor": row.actor,
        "action": row.action,
        "target": row.target,
        "detail": row.detail,
    }


CELLS = {
    "users": user_cells,
    "conversations": conversation_cells,
    "feedback": feedback_cells,
    "audit": audit_cells,
}


def pagination(*, lang: str, total: int = 0, current: int = 1, size: int = DEFAULT_PAGE_SIZE):
    """An AntdTable's `pagination` in server-side mode: the page, its size, the row count."""
    return {
        "current": current,
        "pageSize": size,
        "total": total,
        "pageSizeOptions": list(PAGE_SIZES),
        "showSizeChanger": True,
        "showTotalPrefix": t(lang, "admin.total_prefix"),
        "showTotalSuffix": t(lang, "admin.total_suffix"),
    }


def table_page(engine, name: str, statement, page: object, size: object, *, lang: str):
    """(rows, pagination) of one page of a console table."""
    found = tables.fetch_page(engine, statement, tables.ROW_MODELS[name], page, size)
    rows = [CELLS[name](row, lang=lang) for row in found.rows]
    return rows, pagination(lang=lang, total=found.total, current=found.page, size=found.size)


def default_range(today: date) -> tuple[date, date]:
    return today - timedelta(days=DEFAULT_DAYS - 1), today


def usage_charts(
    engine,
    start: date,
    end: date,
    metric: str,
    split: str,
    *,
    lang: str,
    currency: str | None = None,
    prices: PriceTable | None = None,
) -> dict:
    """The usage chart and the feedback rate chart for the UTC days from start to end, and
    for the cost the currencies spent in them (the biggest first) and the one drawn: the
    picked one when it was spent, else the biggest."""
    currencies = (
        list(usage.spend_by_currency(engine, start, end, prices)) if metric == "cost" else []
    )
    drawn = currency if currency in currencies else next(iter(currencies), None)
    lines = usage.daily(engine, metric, split, start, end, currency=drawn, prices=prices)
    rated = usage.feedback_days(engine, start, end)
    return {
        "usage_figure": usage_figure(lines, metric=metric, split=split, lang=lang, currency=drawn),
        "feedback_figure": feedback_figure(rated, lang=lang),
        "currencies": currencies,
        "currency": drawn,
    }


def filter_options(engine) -> dict[str, list[dict]]:
    """The users, personas and models the conversations can be filtered by."""
    found = tables.options(engine)
    return {
        "user": tables.user_options(engine),
        "persona": [{"label": p, "value": p} for p in found["persona"]],
        "model": [{"label": m, "value": m} for m in found["model"]],
    }


def first_screen(
    engine,
    *,
    lang: str,
    today: date,
    day_start: datetime | None = None,
    prices: PriceTable | None = None,
) -> dict:
    """Everything the console shows when it opens (the first page of every table);
    `day_start` is when the quota's day began (tables.users_query); `prices` names the
    currency of usage rows from before they recorded one.

    The queries are independent, so they run at once, each on its own pooled connection:
    the database works on them in parallel (SQLite and psycopg let other threads run while
    a query does), and the page waits for the slowest instead of for their sum.
    """
    start, end = default_range(today)
    statements = {
        "users": tables.users_query(day_start=day_start),
        "conversations": tables.conversations_query(tables.ConversationFilter()),
        "feedback": tables.feedback_query(),
        "audit": tables.audit_query(),
    }
    work = {
        "charts": lambda: usage_charts(
            engine, start, end, DEFAULT_METRIC, DEFAULT_SPLIT, lang=lang, prices=prices
        ),
        "totals": lambda: usage.overview(engine, prices=prices).model_dump(),
        "options": lambda: filter_options(engine),
        **{
            name: functools.partial(
                table_page, engine, name, statement, 1, DEFAULT_PAGE_SIZE, lang=lang
            )
            for name, statement in statements.items()
        },
    }
    with ThreadPoolExecutor(max_workers=FIRST_SCREEN_THREADS) as pool:
        running = {name: pool.submit(job) for name, job in work.items()}
        done = {name: future.result() for name, future in running.items()}
    return {**done.pop("charts"), **done}
