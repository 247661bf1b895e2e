"""Who a browser is: an anonymous id in a signed, http-only cookie.

Records belong to that id, so one browser can never read another's conversations by guessing
conversation ids: the id itself is random, and the cookie is signed, so it cannot be forged
or edited into someone else's.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from flask import Flask, g, request
from itsdangerous import BadSignature, URLSafeSerializer

COOKIE = "chat_identity"
MAX_AGE = 2 * 365 * 24 * 3600  # two years: losing it loses the conversation list


def identity_token(secret: str, identity: str) -> str:
    """The signed cookie value naming `identity` (api/terminal_link.py hands one out too)."""
    return URLSafeSerializer(secret, salt="chat-identity").dumps(identity)


def init_identity(
    server: Flask, secret: str, cookie_options: Callable[[], dict] | None = None
) -> None:
    """Give every request `g.identity`, issuing a new signed cookie to browsers without one.

    `cookie_options()` gives SameSite/Secure (a page framed by Teams needs SameSite=None).
    """
    signer = URLSafeSerializer(secret, salt="chat-identity")

    @server.before_request
    def _identify() -> None:
        token = request.cookies.get(COOKIE)
        g.identity = None
        if token:
            try:
                g.identity = signer.loads(token)
            except BadSignature:
                g.identity = None  # forged or from another deployment: a new identity
        if not g.identity:
            g.identity = secrets.token_hex(16)
            g.new_identity_cookie = identity_token(secret, g.identity)
        # The browser's own identity, kept for adopting what it had before signing in.
        g.browser_identity = g.identity
        user = g.get("user")
        if user is not None:
            # With accounts, records belong to the user, in whatever browser they sign in.
            g.identity = user.id

    @server.after_request
    def _remember(response):
        token = g.pop("new_identity_cookie", None)
        if token:
            response.set_cookie(
                COOKIE,
                token,
                max_age=MAX_AGE,
                httponly=True,  # page scripts (and injected ones) cannot read it
                **(
                    cookie_options()
                    if cookie_options
                    else {"samesite": "Lax", "secure": request.is_secure}
                ),
            )
        return response


def current_identity() -> str:
    """The identity of the browser making the current request."""
    return g.identity


def current_user():
    """The signed-in account (services.accounts.UserView) with ACCOUNTS=true, else None."""
    return g.get("user")
