"""TEAMS_TAB=true: the page and the sign-in page load TeamsJS (assets/vendor/teams-js.min.js)
and tell a Microsoft host that the tab has loaded (assets/teams/tab.js).

Microsoft's tab requirements ask every tab shown on the *.cloud.microsoft hosts (the new
Teams, Outlook and Microsoft 365 on the web) to call `microsoftTeams.app.initialize()`, or the
host shows a warning over it. The library (about 55 kB compressed) is served by the app, as
every script is (the CSP allows no other site), and only with TEAMS_TAB: nobody else loads it.
The frame's cookies and frame-ancestors are api/security.py's.
"""

from __future__ import annotations

import os
from pathlib import Path

from dash import Dash
from markupsafe import escape

from config import Settings

ASSETS = Path(__file__).resolve().parents[1] / "assets"
SCRIPTS = ("vendor/teams-js.min.js", "teams/tab.js")


def script_tags(app: Dash) -> str:
    """The two script tags, with Dash's `?m=` stamp so a new version is fetched anew."""
    tags = []
    for name in SCRIPTS:
        stamp = int(os.stat(ASSETS / name).st_mtime)
        url = escape(app.get_asset_url(name) + f"?m={stamp}")
        tags.append(f'<script src="{url}"></script>')
    return "\n".join(tags)


def init_teams_tab(app: Dash, settings: Settings) -> None:
    """With TEAMS_TAB, put the scripts in the chat page (before Dash's, so the host hears
    from the tab while the page still starts) and in the sign-in page."""
    if not settings.teams_tab:
        return
    tags = script_tags(app)

    def with_teams(parts: dict) -> dict:
        return {**parts, "scripts": tags + "\n" + parts.get("scripts", "")}

    app.index_hooks = (*getattr(app, "index_hooks", ()), with_teams)
    app.server.config["PAGE_SCRIPTS"] = tags
    # The sign-in page loads them before there is a session (api/auth.py public_request):
    # public code, as the page's other scripts are once signed in.
    app.server.config["PUBLIC_PATHS"] = frozenset(f"/assets/{name}" for name in SCRIPTS)
