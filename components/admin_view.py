"""How the console shows its data: Plotly figures of the usage lines, table rows as text.

Pure functions of the services' models (services/admin); callbacks/admin.py hands them out.
Plotly draws names and labels as text (its own escaping of <, > and &).
"""

from __future__ import annotations

from datetime import datetime

from i18n import t
from services.admin.usage import NONE, OTHER, FeedbackDay, Line

DONE_COLOR = "#0b7d62"  # the page's primary colour (components/layout.py PRIMARY_COLOR)


def _label(line: Line, lang: str) -> str:
    if line.key == OTHER:
        return t(lang, "admin.other")
    if line.key == NONE:
        return t(lang, "admin.none")
    return line.label


def _layout(title: str, y_title: str, **extra) -> dict:
    return {
        "title": {"text": title, "x": 0},
        "margin": {"l": 56, "r": 16, "t": 48, "b": 40},
        "xaxis": {"type": "date", "tickformat": "%Y-%m-%d"},
        "yaxis": {"title": {"text": y_title}, "rangemode": "tozero"},
        "legend": {"orientation": "h", "y": -0.2},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "hovermode": "x unified",
        **extra,
    }


def usage_figure(lines: list[Line], *, metric: str, split: str, lang: str) -> dict:
    """Stacked bars: `metric` per day, one series per user / persona / model."""
    data = [
        {
            "type": "bar",
            "name": _label(line, lang),
            "x": line.days,
            "y": line.values,
            "hovertemplate": "%{y:,.4~f}<extra>%{fullData.name}</extra>"
            if metric == "cost"
            else "%{y:,}<extra>%{fullData.name}</extra>",
        }
        for line in lines
    ]
    title = t(
        lang,
        "admin.chart.usage",
        metric=t(lang, f"admin.metric.{metric}"),
        split=t(lang, f"admin.split.{split}"),
    )
    figure_layout = _layout(title, t(lang, f"admin.metric.{metric}"), barmode="stack")
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
