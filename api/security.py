"""What every response and every state-changing request goes through.

- The client's address: `X-Forwarded-For` is believed only from TRUSTED_PROXIES hops (Render
  and nginx append the real client; without this a client could pick its own rate-limit key).
- Cross-site request refusal (CSRF), the way Go's `http.CrossOriginProtection` does it: a
  browser says where a request comes from (`Sec-Fetch-Site`, else `Origin`); a POST from
  another site is refused. Tools that send neither (curl, SDKs) are not browsers, so not CSRF.
- Security headers (flask-talisman): a CSP Dash runs under (inline scripts only by hash),
  `X-Content-Type-Options`, `Referrer-Policy`, and FRAME_ANCESTORS (plus, with TEAMS_TAB, the
  Teams and Microsoft 365 hosts) for embedding.
- Errors without internals: no traceback or version in any response.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from dash import Dash
from flask import Flask, g, request
from flask.sessions import SecureCookieSessionInterface
from flask_talisman import Talisman
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import WSGIRequestHandler

from api.responses import error_response
from components import theme
from config import Settings

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Blueprints with their own credentials (bearer tokens, never cookies): nothing to forge.
CSRF_EXEMPT_BLUEPRINTS = frozenset({"gateway"})
API_PREFIXES = ("/api/", "/v1/")


class QuietRequestHandler(WSGIRequestHandler):
    """`python chat_app.py`'s server, minus the "Werkzeug/x.y Python/x.y" Server header."""

    def version_string(self) -> str:
        return "chat"


# The hosts Microsoft documents as the frame-ancestors of a tab ("Prerequisites" of Teams tabs,
# learn.microsoft.com/microsoftteams/platform/tabs/how-to/tab-requirements): Teams on the web
# and the desktop client, Microsoft 365 (Office) and Outlook, which also show Teams tabs, and
# *.cloud.microsoft, the domain they are all moving to.
TEAMS_FRAME_ANCESTORS = (
    "https://teams.microsoft.com",
    "https://*.teams.microsoft.com",
    "https://*.cloud.microsoft",
    "https://*.microsoft365.com",
    "https://*.office.com",
    "https://outlook.office.com",
    "https://outlook.office365.com",
    "https://outlook-sdf.office.com",
    "https://outlook-sdf.office365.com",
    "https://outlook.live.com",
)


def frame_ancestors(settings: Settings) -> str:
    """The CSP frame-ancestors sources: FRAME_ANCESTORS, with TEAMS_TAB the Teams hosts too."""
    sources = settings.frame_ancestors.split()
    if settings.teams_tab:
        # 'none' next to a host would be ignored by browsers anyway; say what is meant.
        sources = [s for s in sources if s != "'none'"] or ["'self'"]
        if "'self'" not in sources:
            sources.insert(0, "'self'")
        sources += [host for host in TEAMS_FRAME_ANCESTORS if host not in sources]
    return " ".join(sources)


def embeddable_elsewhere(settings: Settings) -> bool:
    """Whether other sites may frame the page (a Microsoft Teams tab, FRAME_ANCESTORS)."""
    sources = frame_ancestors(settings).split()
    return any(source not in ("'self'", "'none'") for source in sources)


def cookie_options(settings: Settings) -> dict:
    """SameSite/Secure/Partitioned for the app's cookies.

    Lax normally. A page framed by another site (Teams) only gets its cookies back with
    `SameSite=None; Secure`; `Partitioned` (CHIPS) keeps them where a browser blocks
    third-party cookies (Chromium's option, incognito), kept per embedding site. The
    cross-site check below still refuses forged POSTs then.
    """
    if embeddable_elsewhere(settings):
        return {"samesite": "None", "secure": True, "partitioned": True}
    return {"samesite": "Lax", "secure": request.is_secure, "partitioned": False}


class _SessionCookies(SecureCookieSessionInterface):
    """Flask's signed-cookie session, Secure whenever the request came over HTTPS."""

    def __init__(self, settings: Settings):
        self._settings = settings

    def get_cookie_secure(self, app: Flask) -> bool:
        return cookie_options(self._settings)["secure"]

    def get_cookie_samesite(self, app: Flask) -> str:
        return cookie_options(self._settings)["samesite"]

    def get_cookie_partitioned(self, app: Flask) -> bool:
        return cookie_options(self._settings)["partitioned"]


def address_without_port(address: str) -> str:
    """`203.0.113.7:51234` -> `203.0.113.7`, `[2001:db8::1]:443` -> `2001:db8::1`.

    Azure's front ends (App Service, Application Gateway) write the client as IP:port in
    X-Forwarded-For; with the port, every connection would be a new client to the limits.
    """
    if address.startswith("["):
        return address[1:].partition("]")[0]
    if address.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has several colons
        return address.partition(":")[0]
    return address


class _AddressWithoutPort:
    """WSGI step inside ProxyFix: the forwarded client address without a port."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        address = environ.get("REMOTE_ADDR")
        if address:
            environ["REMOTE_ADDR"] = address_without_port(address)
        return self.app(environ, start_response)


def cross_site() -> bool:
    """Whether the current request was sent by a page of another site."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        # "none" is the user's own action (address bar, bookmark).
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    # Ports and hosts must match; the scheme may differ behind a TLS-terminating proxy.
    return origin == "null" or urlsplit(origin).netloc.lower() != request.host.lower()


def content_security_policy(app: Dash, settings: Settings) -> dict:
    """A CSP with no inline script but Dash's own and the theme's (by hash), and nothing
    loaded off-site."""
    return {
        "default-src": "'self'",
        # Call after every clientside callback is defined: their inline scripts are hashed.
        "script-src": ["'self'", *app.csp_hashes(), theme.csp_hash()],
        # antd writes its styles into <style> tags at run time.
        "style-src": ["'self'", "'unsafe-inline'"],
        # No remote images: a model's Markdown must not make the browser call other hosts.
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": "'self'",
        # Plotly (the admin console's chart) starts a worker from a blob it made itself;
        # only the page's own scripts can make one.
        "worker-src": ["'self'", "blob:"],
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": frame_ancestors(settings),
    }


def init_security(app: Dash, settings: Settings) -> None:
    """Install the proxy fix, the cross-site check, security headers and quiet errors."""
    server = app.server
    if settings.trusted_proxies:
        hops = settings.trusted_proxies
        # ProxyFix runs first and hands the forwarded address on; the port goes after it.
        inner = _AddressWithoutPort(server.wsgi_app)
        server.wsgi_app = ProxyFix(inner, x_for=hops, x_proto=hops, x_host=hops)
    server.session_interface = _SessionCookies(settings)
    server.config.update(SESSION_COOKIE_NAME="chat_session", SESSION_COOKIE_HTTPONLY=True)

    def api_methods(path: str) -> list[str]:
        """Methods the API itself serves at `path` (Dash's catch-all page aside)."""
        methods = {m for r in server.url_map.iter_rules() if r.rule == path for m in r.methods}
        return sorted(methods)

    @server.before_request
    def _no_page_under_api():
        # Dash serves its page for any unknown path; under /api/ that would answer a typo'd
        # or wrong-method API call with 200 and HTML.
        rule = request.url_rule.rule if request.url_rule else ""
        if rule == "/<path:path>" and request.path.startswith(API_PREFIXES):
            allowed = api_methods(request.path)
            if allowed:
                return error_response(
                    405,
                    "method_not_allowed",
                    f"{request.method} is not allowed here; use {', '.join(allowed)}.",
                    headers={"Allow": ", ".join(allowed)},
                )
            return error_response(404, "not_found", f"No such API route: {request.path}")
        return None

    @server.after_request
    def _exact_allow(response):
        # Flask's automatic OPTIONS answer would also list the catch-all page's GET.
        if request.method == "OPTIONS" and request.path.startswith(API_PREFIXES):
            allowed = api_methods(request.path)
            if allowed:
                response.headers["Allow"] = ", ".join(allowed)
        return response

    @server.before_request
    def _refuse_cross_site():
        if request.method in SAFE_METHODS or request.blueprint in CSRF_EXEMPT_BLUEPRINTS:
            return None
        if cross_site():
            log.warning("refused a cross-site %s %s", request.method, request.path)
            return error_response(403, "cross_site", "Cross-site requests are refused.")
        return None

    # Registered before Talisman, so it runs after it (Flask runs these in reverse order).
    @server.after_request
    def _policy_for_documents_only(response):
        # A route serving files of its own sets their policy (api/attachments.py: sandboxed).
        own = g.get("content_security_policy")
        if own:
            response.headers["Content-Security-Policy"] = own
            response.headers.pop("Permissions-Policy", None)
            return response
        # A CSP governs documents; on scripts and JSON it is ~400 bytes of nothing, per request.
        if response.mimetype != "text/html":
            response.headers.pop("Content-Security-Policy", None)
            response.headers.pop("Permissions-Policy", None)
        return response

    Talisman(
        server,
        # TLS is the proxy's job (Render, nginx); a local http run must keep working.
        force_https=False,
        # Sent only over HTTPS, where it belongs.
        strict_transport_security=True,
        content_security_policy=content_security_policy(app, settings),
        # frame-ancestors above replaces it; X-Frame-Options could only say SAMEORIGIN/DENY.
        frame_options=None,
        referrer_policy="strict-origin-when-cross-origin",
        # The session interface above decides Secure/SameSite per request.
        session_cookie_secure=False,
        session_cookie_http_only=True,
        x_content_type_options=True,
    )

    @server.errorhandler(InternalServerError)
    def _internal_error(exc: InternalServerError):
        # Logged in full here; the client learns only that it failed.
        original = getattr(exc, "original_exception", None) or exc
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=original)
        return error_response(500, "internal_error", "Something went wrong on the server.")

    @server.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        # Werkzeug's default pages are HTML; API clients get JSON, the page gets SSE.
        if request.path.startswith((*API_PREFIXES, "/_dash-")):
            # Keep what the status needs (Allow on a 405), not the HTML's Content-Type.
            headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
            if "Allow" in headers and request.path.startswith(API_PREFIXES):
                headers["Allow"] = ", ".join(api_methods(request.path))
            return error_response(
                exc.code or 500, "http_error", exc.description or exc.name, headers=headers
            )
        return exc
