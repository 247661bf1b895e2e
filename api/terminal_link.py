"""`/terminal/link?token=...`: a browser takes the terminal chat's records identity, so its
sidebar shows the conversations of `python chat_app.py chat` (services/terminal/identity.py).

Only without accounts (with accounts, `chat --user NAME` records under the account) and with
records on. The token is signed with SECRET_KEY and expires (LINK_MAX_AGE): the terminal that
prints it runs with the app's key. What the browser had before moves along, as a first sign-in
adopts it (api/accounts.py), so opening the link loses nothing from its sidebar.

Opening the link only asks; the move is a POST from that page (which the cross-site check
guards) after the person says yes. Whoever got hold of a link could otherwise put it in a
reply or on another site, and every browser following it would move its conversations into a
list the link's holder reads. A link another site sends a browser to is refused outright.
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, g, redirect, request
from markupsafe import escape

from api.auth import LANG_COOKIE, login_screen
from api.identity import current_identity, identity_token
from extensions import chat_service, records
from i18n import negotiate, t
from services.accounts import Accounts
from services.terminal.identity import LINK_PATH, linked_identity

log = logging.getLogger(__name__)

terminal_link_bp = Blueprint("terminal_link", __name__)


@terminal_link_bp.get(LINK_PATH)
def ask_to_join():
    """Say what opening the link does, with a button that does it (the POST below)."""
    lang = _available()
    if request.headers.get("Sec-Fetch-Site", "none") not in ("none", "same-origin"):
        return _plain(t(lang, "term.link_elsewhere"), 403)
    token = request.args.get("token", "")
    if linked_identity(current_app.secret_key, token) is None:
        return _plain(t(lang, "term.link_invalid"), 400)
    hidden = f'<input type="hidden" name="token" value="{escape(token)}">'
    return login_screen(
        form={
            "action": escape(request.script_root + LINK_PATH),
            "hint": escape(t(lang, "term.link_confirm")),
            "fields": hidden,
            "submit": escape(t(lang, "term.link_join")),
            "submit_id": "terminal-link-submit",
            "after": "",
        }
    )


@terminal_link_bp.post(LINK_PATH)
def join():
    """Give this browser the terminal's identity (a new identity cookie), then show the page."""
    lang = _available()
    identity = linked_identity(current_app.secret_key, request.form.get("token", ""))
    if identity is None:
        return _plain(t(lang, "term.link_invalid"), 400)
    store = records()
    browser = current_identity()
    if browser != identity:
        try:
            moved = Accounts(store.records).adopt(browser, identity)
        except Exception:
            log.exception("could not move this browser's conversations to the terminal's")
        else:
            if moved:
                log.info("a browser joined the terminal chat with %d conversation(s)", moved)
        # init_identity's after_request sets the cookie, with the app's cookie options.
        g.new_identity_cookie = identity_token(current_app.secret_key, identity)
    return redirect(request.script_root + "/", code=303)


def _available() -> str:
    """The visitor's language; 404 where there is no terminal list to join (records off, or
    accounts on: the terminal records under `--user` then)."""
    if records() is None or chat_service().settings.accounts:
        abort(404)
    return negotiate(request.cookies.get(LANG_COOKIE), request.headers.get("Accept-Language"))


def _plain(words: str, status: int):
    return words, status, {"Content-Type": "text/plain; charset=utf-8"}
