"""The web app manifest and its icons: the page installs on a phone's home screen or a desktop.

Both answer without a session (api/auth.py `PUBLIC_ENDPOINTS`): a browser fetches a manifest
without cookies, and the manifest tells no more than the login screen does (the app's title).
URLs inside the manifest are relative to it, so they follow a path prefix (Dash's
`requests_pathname_prefix`) without knowing it. No service worker: installing needs none in
Chromium today, and the chat needs the network anyway. The icons are drawn by
tools/make_icons.py.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, send_from_directory

from config import APP_DIR

install_bp = Blueprint("install", __name__)

ICON_DIR = APP_DIR / "assets" / "icons"
BRAND_COLOR = "#10a37f"  # as components/layout.py
BACKGROUND = "#ffffff"
# Name -> (size, purpose); only these are served from ICON_DIR.
ICONS = {
    "icon-192.png": (192, "any"),
    "icon-512.png": (512, "any"),
    "maskable-512.png": (512, "maskable"),
    "apple-touch-icon.png": (180, None),  # linked from the page's head, for iOS
}
MANIFEST_PATH = "/manifest.webmanifest"
ICON_PATH = "/app-icons/"
# A day: a changed title reaches installed apps soon, without a fetch per visit.
CACHE_SECONDS = 86400


def manifest(title: str) -> dict:
    """The manifest's fields for an app called `title`."""
    return {
        "name": title,
        "short_name": title,
        "id": "./",
        "start_url": "./",
        "scope": "./",
        "display": "standalone",
        "theme_color": BRAND_COLOR,
        "background_color": BACKGROUND,
        "icons": [
            {
                "src": f".{ICON_PATH}{name}",
                "sizes": f"{size}x{size}",
                "type": "image/png",
                "purpose": purpose,
            }
            for name, (size, purpose) in ICONS.items()
            if purpose
        ],
    }


@install_bp.get(MANIFEST_PATH)
def web_manifest():
    """The web app manifest, named after APP_TITLE."""
    response = jsonify(manifest(current_app.config.get("APP_TITLE", "ChatGPT")))
    response.mimetype = "application/manifest+json"
    response.headers["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    return response


@install_bp.get(f"{ICON_PATH}<name>")
def icon(name: str):
    """One of the install icons."""
    if name not in ICONS:
        abort(404)
    return send_from_directory(ICON_DIR, name, mimetype="image/png", max_age=CACHE_SECONDS)
