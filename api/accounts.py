"""ACCOUNTS=true: everyone signs in with a name and a password, and acts as that user.

Replaces ACCESS_PASSWORD's sign-in (api/auth.py), with the same endpoints (`auth.login`,
`auth.logout`, ...), the same login page and the same server-side sessions
(services/sessions.py): a session's row holds "user:<id>" where the password mode keeps a
password's fingerprint. Every request looks the user up again, so a disabled or deleted account
is refused at its next request, not at its next sign-in. The signed-in user is `g.user`
(api.identity.current_user()), and their id is the owner of their records
(api.identity.current_identity()).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, current_app, g, redirect, request, session
from markupsafe import escape

from api.auth import (
    OWN_AUTH_BLUEPRINTS,
    PUBLIC_ENDPOINTS,
    SESSION_KEY,
    SESSION_LIFETIME,
    SESSIONS,
    _is_page_visit,
    _safe_next,
    login_screen,
    password_field,
    visitor_lang,
)
from api.responses import error_response
from extensions import ACCOUNTS
from i18n import t
from services.accounts import Accounts, UserView
from services.sessions import SessionStore

# The same blueprint name as api/auth.py's: the login limits and the public endpoints name
# `auth.login`, whichever sign-in the app uses.
accounts_bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)

SESSION_PREFIX = "user:"

USERNAME_FIELD = """<input id="login-username" name="username" type="text" autocomplete="username"
 autocapitalize="none" spellcheck="false" placeholder="{label}" aria-label="{label}" required
 autofocus>"""


def _fields(lang: str) -> str:
    username = USERNAME_FIELD.format(label=escape(t(lang, "login.username")))
    return username + "\n" + password_field(lang, autofocus=False)


def _accounts() -> Accounts:
    return current_app.extensions[ACCOUNTS]


def _sessions() -> SessionStore:
    return current_app.extensions[SESSIONS]


def session_user() -> UserView | None:
    """The enabled user of the current request's session, or None."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str) or not token:
        return None
    mark = _sessions().fingerprint(token)
    if not mark or not mark.startswith(SESSION_PREFIX):
        return None  # a session of the password mode, from before ACCOUNTS was turned on
    return _accounts().user(mark.removeprefix(SESSION_PREFIX))


def sign_in(user: UserView) -> None:
    """Start a new session for `user` (a fresh token: no session fixation)."""
    session.clear()
    session[SESSION_KEY] = _sessions().create(SESSION_PREFIX + user.id)
    session.permanent = True


@accounts_bp.get("/login")
def login_page():
    """The sign-in form (straight to the app when already signed in)."""
    if session_user() is not None:
        return redirect(_safe_next(request.args.get("next")), code=303)
    return login_screen(next_path=request.args.get("next") or "/")


@accounts_bp.post("/login")
def login():
    """Check a name and password (form fields, or JSON `{"username", "password"}`)."""
    if request.is_json:
        data = request.get_json(silent=True)
        data = data if isinstance(data, dict) else {}
        target = "/"
    else:
        data = request.form
        target = _safe_next(request.form.get("next"))
    username, password = data.get("username"), data.get("password")
    user = None
    if isinstance(username, str) and isinstance(password, str) and username and password:
        user = _accounts().authenticate(username, password)
    if user is None:
        # The same answer whether the name exists or not; who and from where go to the log,
        # never what was typed as the password.
        log.warning("failed sign-in from %s", request.remote_addr)
        if request.is_json:
            return error_response(401, "wrong_password", "Wrong name or password.")
        return login_screen(401, error=t(visitor_lang(), "login.wrong_account"), next_path=target)
    sign_in(user)
    _accounts().touch(user)
    if request.is_json:
        return {"signed_in": True, "username": user.username, "role": user.role}
    return redirect(target, code=303)


@accounts_bp.post("/logout")
def logout():
    """End the session on the server (a copied cookie no longer works); back to the login."""
    token = session.get(SESSION_KEY)
    if isinstance(token, str) and token:
        _sessions().revoke(token)
    session.clear()
    return redirect(request.script_root + "/login", code=303)


def init_accounts(server: Flask, accounts: Accounts, title: str, sessions: SessionStore) -> None:
    """Mount /login and /logout for accounts, and refuse every other route to anyone not
    signed in as an enabled user."""
    server.config.update(
        ACCOUNTS=True,
        ACCESS_PASSWORDS=[],
        APP_TITLE=title,
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        LOGIN_FIELDS=_fields,
        LOGIN_HINT="login.hint_account",
    )
    server.register_blueprint(accounts_bp)
    sessions.create_table()
    server.extensions[SESSIONS] = sessions
    server.extensions[ACCOUNTS] = accounts

    @server.before_request
    def _require_user():
        g.user = None
        if request.endpoint in PUBLIC_ENDPOINTS or request.blueprint in OWN_AUTH_BLUEPRINTS:
            return None
        user = session_user()
        if user is not None:
            g.user = user
            _accounts().touch(user)
            return None
        if _is_page_visit() and not request.path.startswith(("/_dash-", "/api/", "/assets/")):
            return login_screen(401, next_path=request.full_path.rstrip("?"))
        return error_response(401, "unauthorized", "Sign in first (POST /login).")
