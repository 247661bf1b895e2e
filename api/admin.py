"""The admin console's HTTP side (ACCOUNTS=true): who may see /admin, the page's layout for
that path, and the tables' CSV downloads under /admin/csv/.

Only an enabled admin gets anything: any other visitor (and every visitor with ACCOUNTS off)
gets a 403 for the page and its CSV, and each console callback checks again (`require_admin`),
so posting to /_dash-update-component yourself gets a 403, not data.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from dash import Dash
from dash.fingerprint import build_fingerprint
from flask import Blueprint, Response, abort, request, stream_with_context
from markupsafe import escape
from pydantic import ValidationError

import extensions
from api.identity import current_user
from components.admin import ADMIN_PATH, console, forbidden
from i18n import html_lang, t
from services.admin import csv_export
from services.admin.tables import ConversationFilter
from services.admin.view import first_screen

admin_bp = Blueprint("admin", __name__)
# Scripts of the chat page the console does without (2.5 MB of Markdown and the chat's own
# behaviour): left out of /admin's page, they cost its first render nothing.
CHAT_ONLY_SCRIPTS = (
    "feffery_markdown_components",
    "/assets/chat.js",
    "/assets/keys.js",
    "/assets/markdown.js",
    "/assets/menu.js",
    "/assets/accounts.js",
    "/assets/attach.js",
    "/dash_table/",
)
# The lazily loaded parts of the libraries the console draws with (webpack chunks: one that
# has run is not fetched again when a component asks for it), after the script they belong
# to, as (package, its module holding the version, the file in the package).
EARLY_CHUNKS = {
    "feffery_antd_components.": tuple(
        ("feffery_antd_components", "feffery_antd_components", f"async-{part}.js")
        for part in ("antd_table", "data_display", "data_entry")
    ),
    "dash_core_components-shared.": (("dash", "dash.dcc", "dcc/async-graph.js"),),
}
# The console's own stylesheet (assets/console/, which the chat page does not load).
CONSOLE_CSS = "console/admin.css"
CONSOLE_CSS_STAMP = os.stat(Path(__file__).parents[1] / "assets" / CONSOLE_CSS).st_mtime
# Plotly, as Dash serves it when it serves its scripts itself.
PLOTLY = ("plotly", "plotly", "package_data/plotly.min.js")


def suite_url(app: Dash, package: str, version_of: str, path: str) -> str:
    """A package file's URL as Dash writes it, with its version and time in the name, so
    the browser keeps it without asking again (as for the page's other scripts)."""
    module = importlib.import_module(package)
    modified = int(os.stat(os.path.join(os.path.dirname(module.__file__), path)).st_mtime)
    version = importlib.import_module(version_of).__version__
    named = build_fingerprint(path, version, modified)
    return app.get_relative_path(f"/_dash-component-suites/{package}/{named}")


def is_admin() -> bool:
    """Whether the request comes from an enabled admin (never with ACCOUNTS off)."""
    if extensions.accounts() is None:
        return False
    user = current_user()
    return bool(user is not None and user.is_admin and not user.disabled)


def quota_day_start() -> datetime | None:
    """When the users' quota day began (QUOTA_TIMEZONE's midnight), for "tokens today"."""
    quota = extensions.quota()
    return quota.day_start() if quota is not None else None


def require_admin(function: Callable) -> Callable:
    """For each console callback: a 403 unless the caller is an admin (checked per call)."""

    @functools.wraps(function)
    def checked(*args, **kwargs):
        if not is_admin():
            abort(403)
        return function(*args, **kwargs)

    return checked


def _is_console(path: str) -> bool:
    return path.rstrip("/") == ADMIN_PATH


def wants_console() -> bool:
    """Whether this request is for the console's page or its layout.

    Dash's renderer fetches the layout from /_dash-layout after loading the page, so that
    request names the page only in its Referer (same origin: the policy
    strict-origin-when-cross-origin sends the full URL). Forging it gets a non-admin the
    403 layout, nothing more: the data come from callbacks that check the user themselves.
    """
    if _is_console(request.path):
        return True
    if request.path.endswith("/_dash-layout") and request.referrer:
        return _is_console(urlsplit(request.referrer).path)
    return False


def forbidden_page(lang: str) -> Response:
    """A plain 403 page in the visitor's language."""
    title, body = escape(t(lang, "admin.forbidden_title")), escape(t(lang, "admin.forbidden"))
    back = escape(t(lang, "admin.back"))
    html = (
        f'<!DOCTYPE html><html lang="{escape(html_lang(lang))}"><head><meta charset="utf-8">'
        f"<title>{title}</title></head><body><h1>{title}</h1><p>{body}</p>"
        f'<p><a href="/">{back}</a></p></body></html>'
    )
    return Response(html, status=403, mimetype="text/html", headers={"Cache-Control": "no-store"})


@admin_bp.get("/admin/csv/<name>")
def download_csv(name: str):
    """A console table as CSV (all rows, with the filters given as query arguments)."""
    if not is_admin():
        abort(403)
    if name not in csv_export.COLUMNS:
        abort(404)
    args = request.args
    try:
        filters = ConversationFilter(
            text=args.get("text", ""),
            owner=args.get("owner") or None,
            persona=args.get("persona") or None,
            model=args.get("model") or None,
            start=args.get("start") or None,
            end=args.get("end") or None,
        )
    except ValidationError:
        abort(400)
    statement = csv_export.statement_for(
        name, filters=filters, rating=args.get("rating"), day_start=quota_day_start()
    )
    accounts = extensions.accounts()
    accounts.audit(current_user().username, "csv.download", name)
    engine = accounts.engine
    filename = csv_export.filename(name, datetime.now(UTC))
    return Response(
        stream_with_context(csv_export.lines(engine, name, statement)),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def init_admin(app: Dash, language: Callable[[], str]) -> None:
    """Serve the console at /admin from the app's layout function, for admins only.

    `language()` is the visitor's language (negotiated per request, as for the chat page).
    """
    server = app.server
    chat_layout = app.layout

    def layout():
        if not wants_console():
            return chat_layout()
        lang = language()
        if not is_admin():
            return forbidden(lang=lang)
        today = datetime.now(UTC).date()
        screen = first_screen(
            extensions.accounts().engine,
            lang=lang,
            today=today,
            day_start=quota_day_start(),
            prices=extensions.chat_service().prices,
        )
        return console(lang=lang, today=today, screen=screen)

    app.layout = layout
    server.register_blueprint(admin_bp)

    def console_page(parts: dict) -> dict:
        """/admin's page: its layout asked for while the scripts load, and only the scripts
        the console uses."""
        if not (_is_console(request.path) and is_admin()):
            return parts
        # The layout carries the console's data (a few hundred ms of queries): asked for now,
        # the renderer's own request for it finds the answer waiting (same URL, same
        # credentials mode) instead of starting after every script has run.
        href = escape(app.get_relative_path("/_dash-layout"))
        preload = f'\n<link rel="preload" href="{href}" as="fetch" crossorigin="anonymous">'
        scripts = []
        for tag in parts.get("scripts", "").split("\n"):
            if any(name in tag for name in CHAT_ONLY_SCRIPTS):
                continue
            if "dash_renderer" in tag:
                # Plotly (the chart's library) runs while the server still makes the layout,
                # instead of being fetched by the chart once the layout is there. Loaded
                # before the renderer, it is the window.Plotly that dcc.Graph then uses.
                scripts.append(f'<script src="{escape(suite_url(app, *PLOTLY))}"></script>')
            scripts.append(tag)
            for after, chunks in EARLY_CHUNKS.items():
                if after in tag:
                    # A library's parts its components load when first drawn: run now, they
                    # are there when the layout comes, instead of fetched after it.
                    scripts.extend(
                        f'<script src="{escape(suite_url(app, *chunk))}"></script>'
                        for chunk in chunks
                    )
        scripts = "\n".join(scripts)
        # Its own stylesheet, which the chat page does without (Dash's `?m=` as for the rest).
        css = escape(app.get_asset_url(CONSOLE_CSS) + f"?m={CONSOLE_CSS_STAMP}")
        styles = parts.get("css", "") + f'\n<link rel="stylesheet" href="{css}">'
        return {
            **parts,
            "favicon": parts.get("favicon", "") + preload,
            "css": styles,
            "scripts": scripts,
        }

    app.index_hooks = (*getattr(app, "index_hooks", ()), console_page)

    @server.before_request
    def _admin_only_page():
        if request.method == "GET" and _is_console(request.path) and not is_admin():
            return forbidden_page(language())
        return None
