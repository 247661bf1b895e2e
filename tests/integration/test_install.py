"""The web app manifest and its icons: named after APP_TITLE, linked from the page, public."""

from __future__ import annotations

import struct

import pytest

from api.install import ICONS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(body: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    assert body[:8] == PNG_SIGNATURE
    return struct.unpack(">II", body[16:24])


def test_the_manifest_is_named_after_the_title_and_lists_icons_that_exist(make_app):
    client = make_app(app_title="Team <Helper>").server.test_client()
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.mimetype == "application/manifest+json"
    manifest = response.get_json()
    assert manifest["name"] == manifest["short_name"] == "Team <Helper>"
    assert manifest["display"] == "standalone"
    assert manifest["theme_color"] == "#10a37f"
    assert manifest["start_url"] == manifest["scope"] == "./"
    purposes = {(icon["sizes"], icon["purpose"]) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= purposes
    for icon in manifest["icons"]:
        answer = client.get("/" + icon["src"].removeprefix("./"))
        assert answer.status_code == 200 and answer.mimetype == "image/png"
        width, height = png_size(answer.data)
        assert f"{width}x{height}" == icon["sizes"]


def test_the_page_links_the_manifest_touch_icon_and_theme_colour(make_app):
    page = make_app().server.test_client().get("/").get_data(as_text=True)
    assert '<link rel="manifest" href="/manifest.webmanifest">' in page
    assert '<link rel="apple-touch-icon" href="/app-icons/apple-touch-icon.png">' in page
    assert '<meta name="theme-color" content="#10a37f">' in page


def test_behind_a_path_prefix_the_links_carry_it(make_app, monkeypatch):
    monkeypatch.setenv("DASH_REQUESTS_PATHNAME_PREFIX", "/chat/")
    page = make_app().server.test_client().get("/").get_data(as_text=True)
    assert '<link rel="manifest" href="/chat/manifest.webmanifest">' in page
    assert 'href="/chat/app-icons/apple-touch-icon.png"' in page


@pytest.mark.parametrize("path", ["/manifest.webmanifest", *(f"/app-icons/{n}" for n in ICONS)])
def test_installing_needs_no_session_behind_a_password(make_app, path):
    # Browsers fetch a manifest without cookies; it tells no more than the login screen.
    client = make_app(access_password="secret").server.test_client()
    assert client.get(path).status_code == 200
    assert client.get("/assets/chat.js").status_code == 401  # the rest stays guarded


def test_only_the_icons_are_served_from_the_icon_route(client):
    assert client.get("/app-icons/make_icons.py").status_code == 404
    assert client.get("/app-icons/favicon.ico").status_code == 404
