"""The whole page."""

from __future__ import annotations

import feffery_antd_components as fac
from dash import dcc, html

import i18n
from components import ids
from components.composer import composer
from components.header import header
from components.message import live_reply
from components.settings import model_picker, settings_drawer
from config import Settings
from i18n import t


def no_key_alert(*, lang: str) -> fac.AntdAlert:
    """Shown when the server has no credentials: what to set, and where."""
    return fac.AntdAlert(
        id="app-no-key-alert",
        type="warning",
        showIcon=True,
        message=t(lang, "nokey.title"),
        description=t(lang, "nokey.body"),
        className="app-alert",
    )


BRAND_COLOR = "#10a37f"


def page(
    settings: Settings,
    *,
    lang: str,
    has_credentials: bool,
    model_options: list[dict],
    default_model: str,
) -> fac.AntdConfigProvider:
    """The chat page for one visitor. The thread itself is filled in by a callback."""
    content = html.Div(
        [
            dcc.Store(id=ids.HISTORY_STORE, storage_type="local"),
            dcc.Store(id=ids.STREAMING_STORE),
            dcc.Store(id=ids.RESULT_STORE),
            dcc.Store(id=ids.LANG_STORE, data=lang),
            dcc.Download(id=ids.DOWNLOAD),
            html.Div(id=ids.STREAM_HOLDER),
            html.Div(id=ids.TOAST_HOLDER),
            header(
                title=settings.app_title,
                lang=lang,
                model_picker=model_picker(model_options, default_model),
            ),
            settings_drawer(
                lang=lang,
                temperature=settings.openai_temperature
                if settings.openai_temperature is not None
                else 1.0,
                max_reply_tokens=settings.max_reply_tokens,
            ),
            html.Main(
                [
                    html.Div(
                        [
                            no_key_alert(lang=lang) if not has_credentials else None,
                            html.Div(id=ids.HISTORY_LIST),
                            live_reply(lang=lang),
                            html.Div(id=ids.NOTICE),
                        ],
                        className="chat-column",
                    )
                ],
                id=ids.MESSAGES,
                className="chat-messages",
            ),
            html.Footer(
                composer(lang=lang, max_chars=settings.max_input_chars), className="app-footer"
            ),
        ],
        className="app-root",
        lang="zh-CN" if lang.startswith("zh") else "en",
    )
    return fac.AntdConfigProvider(
        content, primaryColor=BRAND_COLOR, locale=i18n.antd_locale(lang), wavesDisabled=True
    )
