"""All UI text. Each language is one module here with `CODE`, `NAME`, `ANTD_LOCALE`, `STRINGS`.

Adding a language is adding one file (copy `en.py`): it is discovered at import time, and a
test checks that every language has exactly the keys English has.
"""

from __future__ import annotations

import importlib
import pkgutil

DEFAULT = "en"


def _discover() -> dict[str, dict]:
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found[module.CODE] = {
            "name": module.NAME,
            "antd_locale": getattr(module, "ANTD_LOCALE", "en-us"),
            "strings": module.STRINGS,
        }
    return found


LANGUAGES = _discover()


def t(lang: str, key: str, **values: object) -> str:
    """The text for `key` in `lang` (English when missing), with `{placeholders}` filled."""
    strings = LANGUAGES.get(lang, LANGUAGES[DEFAULT])["strings"]
    text = strings.get(key) or LANGUAGES[DEFAULT]["strings"][key]
    return text.format(**values) if values else text


def wait_text(lang: str, seconds: int) -> str:
    """A wait in words: "40 seconds", "12 minutes", "2 hours"."""
    if seconds < 120:
        return t(lang, "wait.seconds", n=seconds)
    if seconds < 2 * 3600:
        return t(lang, "wait.minutes", n=round(seconds / 60))
    return t(lang, "wait.hours", n=round(seconds / 3600))


def has(key: str) -> bool:
    """Whether `key` is a known text (stored history may name kinds this version lacks)."""
    return key in LANGUAGES[DEFAULT]["strings"]


def antd_locale(lang: str) -> str:
    """The locale for antd's own widgets in `lang`."""
    return LANGUAGES.get(lang, LANGUAGES[DEFAULT])["antd_locale"]


def html_lang(lang: str) -> str:
    """The BCP 47 tag for `lang`, for `<html lang>`: "zh-cn" is "zh-CN", "en" stays "en"."""
    code = lang if lang in LANGUAGES else DEFAULT
    base, _, region = code.partition("-")
    return f"{base}-{region.upper()}" if region else base


def _preferences(accept_language: str | None) -> list[str]:
    """Language tags from an Accept-Language header, most wanted first; q=0 means "not this"."""
    ranked = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag.strip().lower()))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The language to show: the user's switch (a cookie) first, then the browser's preference."""
    if cookie in LANGUAGES:
        return cookie
    for tag in _preferences(accept_language):
        if tag in LANGUAGES:
            return tag
        base = tag.split("-")[0]
        # zh, zh-CN, zh-Hans, zh-SG ... all read Simplified Chinese best.
        for code in LANGUAGES:
            if code.split("-")[0] == base:
                return code
    return DEFAULT


def options() -> list[dict]:
    """Choices for the language switch."""
    return [{"label": v["name"], "value": code} for code, v in LANGUAGES.items()]
