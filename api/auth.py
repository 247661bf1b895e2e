"""ACCESS_PASSWORD: a login screen in front of the whole app.

With one or more passwords set, a request without a valid session gets the login screen (a page
visit) or a 401 (everything else: Dash callbacks, /api/*, assets). Only /login, /healthz, the
install manifest and its icons (api/install.py) and the gateway (which has its own bearer
tokens) answer without one.

The session is kept on the server (services/sessions.py): Flask's signed, http-only cookie
(SECRET_KEY) carries only its random token. Logout deletes it, so a copy of the cookie is
worthless afterwards; it also ends after SESSION_IDLE_MINUTES unused and 30 days after sign-in.
The server's row holds a keyed fingerprint of the password used, never the password: removing a
password from ACCESS_PASSWORD signs out everyone who used it. Wrong passwords are limited per IP
(api/limits.py).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, redirect, request, session
from markupsafe import escape

from api.responses import error_response
from components.theme import boot_tag
from i18n import negotiate, t, wait_text
from services.sessions import SessionStore

auth_bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)

SESSION_KEY = "session_token"
SESSIONS = "chat_sessions"
SESSION_LIFETIME = timedelta(days=30)
# Reachable without a session: the login screen itself, the health check, and what installing
# the app fetches without cookies (api/install.py: the title and icons, no more than the login
# screen shows).
PUBLIC_ENDPOINTS = frozenset(
    {
        "auth.login_page",
        "auth.login",
        # ACCOUNTS=true with SIGNUP_CODE (api/accounts.py); absent otherwise.
        "auth.signup_page",
        "auth.signup",
        "chat_api.healthz",
        "install.web_manifest",
        "install.icon",
    }
)
# Blueprints that check their own credentials.
OWN_AUTH_BLUEPRINTS = frozenset({"gateway"})
LANG_COOKIE = "chat_lang"


def public_request() -> bool:
    """Whether the request needs no session: the public endpoints, the blueprints with their
    own credentials, and the scripts the sign-in page loads (PUBLIC_PATHS: api/teams_tab.py)."""
    return (
        request.endpoint in PUBLIC_ENDPOINTS
        or request.blueprint in OWN_AUTH_BLUEPRINTS
        or request.path in current_app.config.get("PUBLIC_PATHS", ())
    )


def _passwords() -> list[str]:
    return current_app.config["ACCESS_PASSWORDS"]


def _fingerprint(password: str) -> str:
    key = current_app.secret_key.encode()
    return hmac.new(key, password.encode(), hashlib.sha256).hexdigest()[:32]


def _sessions() -> SessionStore:
    return current_app.extensions[SESSIONS]


def signed_in() -> bool:
    """Whether the current request carries a live session for a password still valid."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str) or not token:
        return False
    mark = _sessions().fingerprint(token)
    if mark is None:
        return False
    return any(hmac.compare_digest(mark, _fingerprint(p)) for p in _passwords())


def _matching_password(given: str) -> str | None:
    # Every password is compared, in constant time: timing reveals neither which one nor how
    # much of one matched.
    found = None
    for password in _passwords():
        if hmac.compare_digest(given.encode(), password.encode()):
            found = password
    return found


def _safe_next(target: str | None) -> str:
    """A local path to return to after login; anything pointing elsewhere becomes "/"."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target:
        return "/"
    return target


def visitor_lang() -> str:
    """The visitor's language on the pages the server writes itself (login, blocked link):
    the page's language cookie, else the browser's Accept-Language."""
    return negotiate(request.cookies.get(LANG_COOKIE), request.headers.get("Accept-Language"))


def login_wait_text(seconds: int) -> str:
    """ "Too many wrong passwords; try again in ..." in the visitor's language."""
    lang = visitor_lang()
    return t(lang, "login.too_many", wait=wait_text(lang, seconds))


# A phone's on-screen keyboard shrinks the page instead of covering its bottom, so the chat
# page's composer (and the login form's button) stays above it.
VIEWPORT = "width=device-width, initial-scale=1, interactive-widget=resizes-content"

LOGIN_PAGE = """<!doctype html>
<html lang="{lang}"><head>{theme}{scripts}<meta charset="utf-8">
<meta name="viewport" content="{viewport}">
<title>{title}</title>
<style>
:root{{color-scheme:light;--bg:#f5f5f5;--surface:#fff;--text:#1f1f1f;--muted:#666;
--border:#d9d9d9;--button:#0b7d62;--button-text:#fff;--error:#cf1322;--shadow:rgba(0,0,0,.08)}}
:root[data-theme="dark"]{{color-scheme:dark;--bg:#141414;--surface:#1f1f1f;--text:#e6e6e6;
--muted:#a6a6a6;--border:#424242;--button:#0b7d62;--button-text:#fff;--error:#ff7875;
--shadow:rgba(0,0,0,.5)}}
body{{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;
font-family:-apple-system,BlinkMacSystemFont,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;
background:var(--bg);color:var(--text)}}
form{{background:var(--surface);padding:32px;border-radius:12px;
box-shadow:0 2px 12px var(--shadow);width:min(340px,90vw);box-sizing:border-box}}
h1{{font-size:20px;margin:0 0 4px}}p{{margin:0 0 20px;color:var(--muted);font-size:14px}}
input{{width:100%;box-sizing:border-box;padding:10px 12px;font-size:15px;
border:1px solid var(--border);border-radius:8px;margin-bottom:12px;background:var(--surface);
color:var(--text)}}
button{{width:100%;padding:10px;font-size:15px;border:0;border-radius:8px;
background:var(--button);color:var(--button-text);cursor:pointer}}
.error{{color:var(--error);margin:0 0 12px;font-size:14px}}
.switch{{margin:16px 0 0;text-align:center}}.switch a{{color:var(--button)}}
</style></head>
<body><form id="login-form" method="post" action="{action}">
<h1>{title}</h1><p>{hint}</p>
{error}
{fields}
<input type="hidden" name="next" value="{next}">
<button id="{submit_id}" type="submit">{submit}</button>
{after}
</form></body></html>
"""


PASSWORD_FIELD = """<input id="login-password" name="password" type="password"
 autocomplete="current-password" placeholder="{label}" aria-label="{label}" required{focus}>"""


def password_field(lang: str, *, autofocus: bool = True) -> str:
    label = escape(t(lang, "login.password"))
    return PASSWORD_FIELD.format(label=label, focus=" autofocus" if autofocus else "")


def login_screen(
    status: int = 200,
    *,
    error: str = "",
    next_path: str = "/",
    headers=None,
    form: dict | None = None,
):
    """The login form (a complete page; its one script is the theme's), with an optional
    error line. Light or dark as the chat page is (components/theme.py). With ACCOUNTS=true
    the form is api/accounts.py's (a name and a password); `form` (action, hint, fields,
    submit, submit_id, after) replaces parts of it, for that module's sign-up form."""
    lang = visitor_lang()
    title = current_app.config.get("APP_TITLE", "ChatGPT")
    fields = current_app.config.get("LOGIN_FIELDS") or (lambda lang: password_field(lang))
    after = current_app.config.get("LOGIN_AFTER") or (lambda lang: "")
    parts = {
        "hint": escape(t(lang, current_app.config.get("LOGIN_HINT", "login.hint"))),
        "fields": fields(lang),
        "submit": escape(t(lang, "login.submit")),
        "submit_id": "login-submit",
        "action": escape(request.script_root + "/login"),
        "after": after(lang),
        **(form or {}),
    }
    body = LOGIN_PAGE.format(
        lang=escape(lang),
        theme=boot_tag(),
        # Scripts the sign-in page needs as the chat page does (api/teams_tab.py).
        scripts=current_app.config.get("PAGE_SCRIPTS", ""),
        viewport=VIEWPORT,
        title=escape(title),
        next=escape(_safe_next(next_path)),
        error=f'<div class="error" role="alert">{escape(error)}</div>' if error else "",
        **parts,
    )
    response = current_app.response_class(body, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers.update(headers or {})
    return response


@auth_bp.get("/login")
def login_page():
    """The login screen (straight to the app when already signed in or when no password)."""
    if not _passwords() or signed_in():
        return redirect(_safe_next(request.args.get("next")), code=303)
    return login_screen(next_path=request.args.get("next") or "/")


@auth_bp.post("/login")
def login():
    """Check a password (form field, or JSON `{"password": ...}` for scripts)."""
    if request.is_json:
        data = request.get_json(silent=True)
        given = data.get("password") if isinstance(data, dict) else None
        target = "/"
    else:
        given = request.form.get("password")
        target = _safe_next(request.form.get("next"))
    password = _matching_password(given) if isinstance(given, str) and given else None
    if password is None:
        # Who and when, for the operator; never what was typed.
        log.warning("wrong password from %s", request.remote_addr)
        if request.is_json:
            return error_response(401, "wrong_password", "Wrong password.")
        return login_screen(401, error=t(visitor_lang(), "login.wrong"), next_path=target)
    session.clear()
    session[SESSION_KEY] = _sessions().create(_fingerprint(password))
    session.permanent = True
    if request.is_json:
        return {"signed_in": True}
    return redirect(target, code=303)


@auth_bp.post("/logout")
def logout():
    """End the session on the server (a copied cookie no longer works); back to the login."""
    token = session.get(SESSION_KEY)
    if isinstance(token, str) and token and SESSIONS in current_app.extensions:
        _sessions().revoke(token)
    session.clear()
    return redirect(request.script_root + "/login", code=303)


def _is_page_visit() -> bool:
    return request.method == "GET" and request.accept_mimetypes.accept_html


def init_auth(
    server: Flask, passwords: list[str], title: str, sessions: SessionStore | None = None
) -> None:
    """Mount /login and /logout; with `passwords`, refuse every other route without a live
    session from `sessions` (required then)."""
    server.config.update(
        ACCESS_PASSWORDS=list(passwords),
        APP_TITLE=title,
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )
    server.register_blueprint(auth_bp)
    if not passwords:
        return
    if sessions is None:
        raise ValueError("a password needs a session store")
    sessions.create_table()
    server.extensions[SESSIONS] = sessions

    @server.before_request
    def _require_session():
        if public_request():
            return None
        if signed_in():
            return None
        if _is_page_visit() and not request.path.startswith(("/_dash-", "/api/", "/assets/")):
            # The page itself: show the login screen right here, still as a 401.
            return login_screen(401, next_path=request.full_path.rstrip("?"))
        return error_response(
            401, "unauthorized", "Sign in first: this app needs a password (POST /login)."
        )
