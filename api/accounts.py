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

import hmac
import logging

from flask import Blueprint, Flask, abort, current_app, g, redirect, request, session
from markupsafe import escape
from sqlalchemy.exc import SQLAlchemyError

from api.auth import (
    OWN_AUTH_BLUEPRINTS,
    SESSION_KEY,
    SESSION_LIFETIME,
    SESSIONS,
    _is_page_visit,
    _safe_next,
    login_screen,
    password_field,
    public_request,
    visitor_lang,
)
from api.responses import error_response
from api.signin_limits import (
    count_wrong_code,
    count_wrong_password,
    signin_pause,
    signup_pause,
)
from extensions import ACCOUNTS
from i18n import t, wait_text
from services.accounts import AccountError, Accounts, UserView
from services.accounts.repository import SESSION_PREFIX, TOKEN_PREFIX
from services.sessions import SessionStore

# The same blueprint name as api/auth.py's: the login limits and the public endpoints name
# `auth.login`, whichever sign-in the app uses.
accounts_bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)


USERNAME_FIELD = """<input id="{id}" name="username" type="text" autocomplete="username"
 autocapitalize="none" spellcheck="false" placeholder="{label}" aria-label="{label}"
 value="{value}" required autofocus>"""
SECRET_FIELD = """<input id="{id}" name="{name}" type="password" autocomplete="{complete}"
 placeholder="{label}" aria-label="{label}" required>"""
CODE_FIELD = """<input id="signup-code" name="code" type="text" autocomplete="off"
 autocapitalize="none" spellcheck="false" placeholder="{label}" aria-label="{label}"
 value="{value}" required>"""
SWITCH = '<p class="switch"><a id="{id}" href="{href}">{label}</a></p>'


def _typed(name: str) -> str:
    """What the visitor typed in a refused form's field (never a password), escaped."""
    return escape(g.get("typed", {}).get(name, ""))


def _fields(lang: str) -> str:
    label = escape(t(lang, "login.username"))
    username = USERNAME_FIELD.format(id="login-username", label=label, value=_typed("username"))
    return username + "\n" + password_field(lang, autofocus=False)


def _signup_link(lang: str) -> str:
    """The login page's way to sign-up, when SIGNUP_CODE is set."""
    if not current_app.config.get("SIGNUP_CODE"):
        return ""
    href = escape(request.script_root + "/signup")
    return SWITCH.format(id="signup-link", href=href, label=escape(t(lang, "login.signup_link")))


def _signup_fields(lang: str) -> str:
    def secret(id_: str, name: str, key: str) -> str:
        label = escape(t(lang, key))
        return SECRET_FIELD.format(id=id_, name=name, complete="new-password", label=label)

    name_label = escape(t(lang, "login.username"))
    return "\n".join(
        (
            USERNAME_FIELD.format(id="signup-username", label=name_label, value=_typed("username")),
            secret("signup-password", "password", "login.password"),
            secret("signup-password2", "password2", "signup.password_again"),
            CODE_FIELD.format(label=escape(t(lang, "signup.code")), value=_typed("code")),
        )
    )


def signup_screen(status: int = 200, *, error: str = "", headers=None):
    """The sign-up form: the login page's look, with its own fields."""
    lang = visitor_lang()
    back = SWITCH.format(
        id="signin-link",
        href=escape(request.script_root + "/login"),
        label=escape(t(lang, "login.signin_link")),
    )
    form = {
        "hint": escape(t(lang, "signup.hint")),
        "fields": _signup_fields(lang),
        "submit": escape(t(lang, "signup.submit")),
        "submit_id": "signup-submit",
        "action": escape(request.script_root + "/signup"),
        "after": back,
    }
    return login_screen(status, error=error, headers=headers, form=form)


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


def _form() -> dict:
    """The posted fields (a form, or JSON for scripts and tests)."""
    if request.is_json:
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else {}
    return request.form


def _text(data, name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


def _paused(wait: int, why: str, screen, **keep):
    """The 429 for a paused sign-in or sign-up, in the visitor's language."""
    words = t(visitor_lang(), why, wait=wait_text(visitor_lang(), wait))
    if request.is_json:
        return error_response(429, "too_many_requests", words, retry_after=wait)
    return screen(429, error=words, headers={"Retry-After": str(wait)}, **keep)


def _adopt(user: UserView) -> None:
    """What this browser kept before its first sign-in (from before ACCOUNTS=true) becomes the
    user's, once: afterwards the browser's own identity owns nothing."""
    browser = g.get("browser_identity")
    if browser and browser != user.id:
        moved = _accounts().adopt(browser, user.id)
        if moved:
            log.info("%s adopted %d conversation(s) this browser had", user.username, moved)


def _signed_in(user: UserView, target: str):
    sign_in(user)
    _accounts().touch(user)
    _adopt(user)
    if request.is_json:
        return {"signed_in": True, "username": user.username, "role": user.role}
    return redirect(target, code=303)


@accounts_bp.post("/login")
def login():
    """Check a name and password (form fields, or JSON `{"username", "password"}`)."""
    data = _form()
    target = "/" if request.is_json else _safe_next(_text(data, "next"))
    username, password = _text(data, "username"), _text(data, "password")
    g.typed = {"username": username}
    paused = signin_pause(username)
    if paused is not None:
        wait, why = paused
        return _paused(wait, why, login_screen, next_path=target)
    user = None
    if username and password:
        user = _accounts().authenticate(username, password)
    if user is None:
        count_wrong_password(username)
        # The same answer whether the name exists or not; who and from where go to the log,
        # never what was typed as the password.
        log.warning("failed sign-in from %s", request.remote_addr)
        if request.is_json:
            return error_response(401, "wrong_password", "Wrong name or password.")
        return login_screen(401, error=t(visitor_lang(), "login.wrong_account"), next_path=target)
    return _signed_in(user, target)


def _signup_code() -> str:
    code = current_app.config.get("SIGNUP_CODE")
    if not code:
        abort(404)  # sign-up is off: as if the route did not exist
    return code


@accounts_bp.get("/signup")
def signup_page():
    """The sign-up form (SIGNUP_CODE set), or 404."""
    _signup_code()
    if session_user() is not None:
        return redirect(request.script_root + "/", code=303)
    return signup_screen()


@accounts_bp.post("/signup")
def signup():
    """Create a `user` account with the sign-up code, and sign in as it."""
    expected = _signup_code()
    data = _form()
    username, code = _text(data, "username"), _text(data, "code")
    password = _text(data, "password")
    again = _text(data, "password2") if not request.is_json else password
    g.typed = {"username": username, "code": code}
    lang = visitor_lang()

    def refused(status: int, key: str, error_code: str):
        words = t(lang, key)
        if request.is_json:
            return error_response(status, error_code, words)
        return signup_screen(status, error=words)

    wait = signup_pause()
    if wait is not None:
        return _paused(wait, "signup.too_many", signup_screen)
    # Constant time: how much of a guess matched does not show in the answer's timing.
    if not hmac.compare_digest(code.strip().encode(), expected.encode()):
        count_wrong_code()
        log.warning("wrong sign-up code from %s", request.remote_addr)
        g.typed = {"username": username}  # a wrong code is not worth keeping
        return refused(403, "signup.wrong_code", "wrong_code")
    if password != again:
        return refused(400, "signup.passwords_differ", "passwords_differ")
    try:
        user = _accounts().add_user(username, password)
    except AccountError as error:
        status = 409 if error.key == "accounts.name_taken" else 400
        return refused(status, error.key, error.key.removeprefix("accounts."))
    _accounts().audit(user.username, "signup", user.username)
    log.info("%s signed up", user.username)
    return _signed_in(user, "/")


@accounts_bp.post("/logout")
def logout():
    """End the session on the server (a copied cookie no longer works); back to the login."""
    token = session.get(SESSION_KEY)
    if isinstance(token, str) and token:
        _sessions().revoke(token)
    session.clear()
    return redirect(request.script_root + "/login", code=303)


def init_accounts(
    server: Flask,
    accounts: Accounts,
    title: str,
    sessions: SessionStore,
    signup_code: str | None = None,
) -> None:
    """Mount /login and /logout for accounts, and refuse every other route to anyone not
    signed in as an enabled user."""
    server.config.update(
        ACCOUNTS=True,
        ACCESS_PASSWORDS=[],
        APP_TITLE=title,
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        LOGIN_FIELDS=_fields,
        LOGIN_HINT="login.hint_account",
        LOGIN_AFTER=_signup_link,
        SIGNUP_CODE=signup_code or "",
    )
    server.register_blueprint(accounts_bp)
    sessions.create_table()
    server.extensions[SESSIONS] = sessions
    server.extensions[ACCOUNTS] = accounts

    @server.before_request
    def _require_user():
        g.user = None
        token = bearer_token()
        if token is not None:
            return _token_user(token)
        if public_request():
            return None
        user = session_user()
        if user is not None:
            g.user = user
            _accounts().touch(user)
            return None
        if _is_page_visit() and not request.path.startswith(("/_dash-", "/api/", "/assets/")):
            return login_screen(401, next_path=request.full_path.rstrip("?"))
        return error_response(401, "unauthorized", "Sign in first (POST /login).")

    try:
        nobody = not accounts.list_users()
    except SQLAlchemyError:  # the records cannot be read now (a full disk): said elsewhere
        nobody = False
    if nobody:
        log.warning(
            "ACCOUNTS=true and no account exists yet, so nobody can sign in. Make the first "
            "admin with: python chat_app.py users add NAME --admin"
        )


def bearer_token() -> str | None:
    """A personal API token (`Authorization: Bearer cgpt_...`) on an API or gateway route."""
    if not request.path.startswith(("/api/", "/v1/")):
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX):
        return None
    return token


def _token_user(token: str):
    """Act as the token's user; a revoked token or a disabled user is refused here."""
    user = _accounts().user_for_token(token)
    if user is None:
        if request.blueprint in OWN_AUTH_BLUEPRINTS:
            return None  # the gateway refuses it in its own (OpenAI) words
        return error_response(
            401, "invalid_token", "This API token is not valid (revoked, or its user disabled)."
        )
    g.user = user
    g.token_user = user  # the gateway's sign that a user's own token let the request in
    _accounts().touch(user)
    return None
