"""`<html lang>` says the page's language, negotiated per request like the page's text."""

from __future__ import annotations

import re

import pytest

from chat_app import LANG_COOKIE

HTML_TAG = re.compile(r"<html[^>]*>")


def html_tag(response) -> str:
    assert response.status_code == 200
    return HTML_TAG.search(response.get_data(as_text=True)).group(0)


@pytest.mark.parametrize(
    ("accept", "tag"),
    [("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"), ("en-US,en;q=0.9", "en"), ("fr-FR", "en")],
)
def test_the_page_says_the_browsers_language(client, accept: str, tag: str) -> None:
    response = client.get("/", headers={"Accept-Language": accept})
    assert html_tag(response) == f'<html lang="{tag}">'


def test_the_language_switch_wins_over_the_browser(client) -> None:
    client.set_cookie(LANG_COOKIE, "en")
    response = client.get("/", headers={"Accept-Language": "zh-CN"})
    assert html_tag(response) == '<html lang="en">'


def test_each_request_gets_its_own_language(client) -> None:
    """Nothing of one visitor's page is kept for the next."""
    first = client.get("/", headers={"Accept-Language": "zh-CN"})
    second = client.get("/", headers={"Accept-Language": "en"})
    assert html_tag(first) == '<html lang="zh-CN">'
    assert html_tag(second) == '<html lang="en">'
    assert second.get_data(as_text=True).count("{%html_lang%}") == 0
