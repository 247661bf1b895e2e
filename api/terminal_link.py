"""`/terminal/link?token=...`: a browser takes the terminal chat's records identity, so its
sidebar shows the conversations of `python chat_app.py chat` (services/terminal/identity.py).

Only without accounts (with accounts, `chat --user NAME` records under the account) and with
records on. The token is signed with SECRET_KEY and expires (LINK_MAX_AGE): the terminal that
prints it runs with the app's key. What the browser had before moves along, as a first sign-in
adopts it (api/accounts.py), so opening the link loses nothing from its sidebar.

Only a link the person opened themselves counts (pasted in the address bar, or opened from the
terminal: `Sec-Fetch-Site: none`). Another site linking or redirecting to it is refused: whoever
got hold of a link could otherwise send others' browsers to it and have their conversations
moved into a list the link's holder reads.
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, g, redirect, request

from api.auth import LANG_COOKIE
from api.identity import current_identity, identity_token
from extensions import chat_service, records
from i18n import negotiate, t
from services.accounts import Accounts
from services.terminal.identity import LINK_PATH, linked_identity

log = logging.getLogger(__name__)

terminal_link_bp = Blueprint("terminal_link", __name__)


@terminal_link_bp.get(LINK_PATH)
def open_terminal_link():
    """Give this browser the terminal's identity (a new identity cookie), then show the page."""
    store = records()
    if store is None or chat_service().settings.accounts:
        abort(404)
    lang = negotiate(request.cookies.get(LANG_COOKIE), request.headers.get("Accept-Language"))
    if request.headers.get("Sec-Fetch-Site", "none") not in ("none", "same-origin"):
        return _plain(t(lang, "term.link_elsewhere"), 403)
    identity = linked_identity(current_app.secret_key, request.args.get("token", ""))
    if identity is None:
        return _plain(t(lang, "term.link_invalid"), 400)
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
    return redirect("/", code=303)


def _plain(words: str, status: int):
    return words, status, {"Content-Type": "text/plain; charset=utf-8"}
