"""i18n: complete translations, language negotiation, and filling in text."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from i18n import DEFAULT, LANGUAGES, html_lang, negotiate, options, t

ROOT = Path(__file__).resolve().parents[2]
ENGLISH = LANGUAGES["en"]["strings"]
TRANSLATIONS = sorted(code for code in LANGUAGES if code != "en")


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def test_languages_are_discovered() -> None:
    assert DEFAULT == "en"
    assert {"en", "zh-cn"} <= set(LANGUAGES)
    assert {"label": "简体中文", "value": "zh-cn"} in options()
    assert {"label": "English", "value": "en"} in options()


@pytest.mark.parametrize("code", TRANSLATIONS)
def test_every_language_has_exactly_the_english_keys(code: str) -> None:
    strings = LANGUAGES[code]["strings"]
    assert sorted(set(ENGLISH) - set(strings)) == [], "missing"
    assert sorted(set(strings) - set(ENGLISH)) == [], "unknown"


@pytest.mark.parametrize("code", TRANSLATIONS)
def test_translations_use_the_same_placeholders(code: str) -> None:
    strings = LANGUAGES[code]["strings"]
    wrong = {
        key: (placeholders(ENGLISH[key]), placeholders(text))
        for key, text in strings.items()
        if key in ENGLISH and placeholders(text) != placeholders(ENGLISH[key])
    }
    assert wrong == {}


@pytest.mark.parametrize("code", sorted(LANGUAGES))
def test_no_text_is_blank(code: str) -> None:
    assert [k for k, v in LANGUAGES[code]["strings"].items() if not v.strip()] == []


def error_kinds() -> set[str]:
    """Every error `type` the server or the page can store in the history."""
    kinds = set()
    for path in ("services/errors.py", "services/chat.py"):
        source = (ROOT / path).read_text(encoding="utf-8")
        kinds |= set(re.findall(r'ChatError\(\s*"(\w+)"', source))
    # api/routes.py, chat.js, thread; a graceful stop (services/stopping.py)
    kinds |= {"invalid_request", "network", "interrupted", "server_stopping"}
    return kinds


@pytest.mark.parametrize("code", sorted(LANGUAGES))
def test_every_error_kind_has_advice(code: str) -> None:
    kinds = error_kinds()
    assert {"timeout", "stream_cut", "quota_exceeded", "missing_api_key"} <= kinds
    strings = LANGUAGES[code]["strings"]
    assert sorted(k for k in kinds if f"error.{k}" not in strings) == []


# negotiate -----------------------------------------------------------------------------


def test_cookie_wins_over_the_browser() -> None:
    assert negotiate("zh-cn", "en-US,en;q=0.9") == "zh-cn"
    assert negotiate("en", "zh-CN,zh;q=0.9") == "en"


def test_unknown_cookie_is_ignored() -> None:
    assert negotiate("klingon", "zh-CN") == "zh-cn"
    assert negotiate("", "zh-CN") == "zh-cn"


@pytest.mark.parametrize(
    "header", ["zh-CN", "zh", "zh-TW", "zh-Hans", "zh-Hans-CN", "ZH-cn", "zh-SG"]
)
def test_chinese_variants_read_simplified_chinese(header: str) -> None:
    assert negotiate(None, header) == "zh-cn"


@pytest.mark.parametrize("header", ["en-US", "en", "en-GB,en;q=0.9", "EN-us"])
def test_english_variants(header: str) -> None:
    assert negotiate(None, header) == "en"


@pytest.mark.parametrize("header", [None, "", "fr-FR", "fr, de;q=0.8", "*", " , ;q=0.5"])
def test_unknown_or_missing_languages_fall_back_to_english(header: str | None) -> None:
    assert negotiate(None, header) == "en"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-cn"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("fr-FR, fr;q=0.9, zh;q=0.8, en;q=0.7", "zh-cn"),
        ("de;q=0.9 , en-US ; q=0.8", "en"),
    ],
)
def test_first_supported_language_in_preference_order(header: str, expected: str) -> None:
    assert negotiate(None, header) == expected


def test_q_values_decide_over_header_order() -> None:
    """RFC 9110: the weight, not the position, is the preference; q=0 means "not this"."""
    assert negotiate(None, "en;q=0.5, zh-CN;q=0.9") == "zh-cn"
    assert negotiate(None, "zh;q=0, en") == "en"


# t -------------------------------------------------------------------------------------


def test_t_returns_the_language_text() -> None:
    assert t("en", "composer.send") == "Send"
    assert t("zh-cn", "composer.send") == "发送"


def test_t_fills_placeholders() -> None:
    assert t("en", "reply.usage", prompt=12, completion=34) == "12 prompt + 34 reply tokens"
    assert t("zh-cn", "reply.usage", prompt=12, completion=34) == "提问 12 + 回答 34 tokens"
    text = t("en", "input.too_long", length=9001, limit=8000)
    assert "9001" in text and "8000" in text and "{" not in text


@pytest.mark.parametrize("lang", ["xx", "", "fr"])
def test_unknown_language_falls_back_to_english(lang: str) -> None:
    assert t(lang, "composer.send") == "Send"
    assert t(lang, "error.detail", detail="boom") == "Details: boom"


def test_missing_translation_falls_back_to_english(monkeypatch: pytest.MonkeyPatch) -> None:
    strings = dict(LANGUAGES["zh-cn"]["strings"])
    del strings["composer.send"]
    monkeypatch.setitem(LANGUAGES["zh-cn"], "strings", strings)
    assert t("zh-cn", "composer.send") == "Send"
    assert t("zh-cn", "composer.stop") == "停止"


CJK = "\u3400-\u4dbf\u4e00-\u9fff"


def test_chinese_text_has_no_space_between_chinese_characters() -> None:
    """Chinese is written without spaces between characters ("约 提问" read as a typo)."""
    strings = LANGUAGES["zh-cn"]["strings"]
    spaced = {k: v for k, v in strings.items() if re.search(f"[{CJK}] +[{CJK}]", v)}
    assert spaced == {}


def test_reply_estimate_reads_without_a_stray_space() -> None:
    text = t("zh-cn", "reply.estimated", prompt="1,200", completion="300")
    assert text == "提问约 1,200 + 回答约 300 tokens（估算）"


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_the_placeholder_names_no_keys_a_phone_lacks(lang: str) -> None:
    """The box's placeholder shows on phones too; the keys hint is a separate, hideable line."""
    assert "Shift" not in t(lang, "composer.placeholder")
    assert "Shift+Enter" in t(lang, "composer.keys")


@pytest.mark.parametrize(
    ("lang", "tag"), [("zh-cn", "zh-CN"), ("en", "en"), ("xx", "en"), ("<script>", "en")]
)
def test_html_lang_is_the_bcp47_tag_of_a_known_language(lang: str, tag: str) -> None:
    assert html_lang(lang) == tag
