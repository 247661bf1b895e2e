"""Whose records the terminal writes, and the link that shows them in a browser's sidebar.

The page's records belong to an identity: a random id in a browser's signed cookie
(api/identity.py), or the account's id with ACCOUNTS=true. A terminal has no cookie, so:
- with accounts, `--user NAME` records under that account: its sidebar shows them wherever
  the user signs in;
- without, the terminal records under one identity of its own, derived from SECRET_KEY (so it
  is the same every run and unguessable without the key), and `/link` prints a short-lived
  link that makes a browser use that identity (api/terminal_link.py): from then on that
  browser's sidebar and the terminal share one conversation list.
"""

from __future__ import annotations

import hashlib
import hmac

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

LINK_SALT = "terminal-link"
# Whose usage rows a terminal without `--user` writes when accounts are on (its conversations
# are not kept then): one owner, as the gateway's own keys have ("gateway").
TERMINAL_OWNER = "terminal"
LINK_PATH = "/terminal/link"
# Long enough to copy a link into a browser; short, because whoever opens it sees the list.
LINK_MAX_AGE = 600


def terminal_identity(secret: str) -> str:
    """The terminal's own records identity (accounts off): stable for one SECRET_KEY."""
    digest = hmac.new(secret.encode(), b"chat-terminal-identity", hashlib.sha256)
    return digest.hexdigest()[:32]


def link_token(secret: str, identity: str) -> str:
    """A signed, timed token naming `identity`, for LINK_PATH."""
    return URLSafeTimedSerializer(secret, salt=LINK_SALT).dumps(identity)


def link_url(base_url: str, secret: str, identity: str) -> str:
    """The link a browser opens to share the terminal's conversation list."""
    return f"{base_url.rstrip('/')}{LINK_PATH}?token={link_token(secret, identity)}"


def linked_identity(secret: str, token: str) -> str | None:
    """The identity a link's token names, or None (forged, from another key, or expired)."""
    try:
        identity = URLSafeTimedSerializer(secret, salt=LINK_SALT).loads(token, max_age=LINK_MAX_AGE)
    except (BadSignature, SignatureExpired):
        return None
    return identity if isinstance(identity, str) and identity else None
