"""The whole page."""

from __future__ import annotations

from dataclasses import dataclass

import feffery_antd_components as fac
from dash import dcc, html

import i18n
from components import ids
from components.attachments import AttachOptions, attach_config
from components.composer import composer
from components.header import header
from components.message import live_question, live_reply
from components.persona import persona_picker
from components.settings import model_picker, settings_drawer
from components.shortcuts import shortcuts_dialog
from components.sidebar import sidebar
from components.turn import page_config
from i18n import t
from services.personas import PersonasConfig


@dataclass(frozen=True)
class PageOptions:
    """What the page needs to know about the server's configuration."""

    title: str
    has_credentials: bool
    model_options: list[dict]
    default_model: str
    personas: PersonasConfig
    locked: bool  # PERSONA_LOCK: the picker and the custom prompt are not offered
    max_input_chars: int
    max_history_rounds: int
    max_reply_tokens: int
    default_temperature: float
    records_enabled: bool
    can_logout: bool = False  # ACCESS_PASSWORD is set
    # ACCOUNTS=true: what is left of the user's daily tokens shows (#quota-left); otherwise
    # the element is not there, and neither is its callback's request after every turn.
    quota: bool = False
    accounts: bool = False  # ACCOUNTS=true: personal API tokens in the settings drawer
    # The limits on attachments (issue 18); None: MAX_ATTACHMENTS=0, no attach button.
    attachments: AttachOptions | None = None
    # The models that take images (services/vision.py), for the page's attachments.
    vision_models: tuple[str, ...] = ()


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


# antd's primary colour: a darker shade of the brand's #10a37f (style.css --color-accent, on the
# logo), on which white text (the Send button's) keeps WCAG AA contrast: 5.1:1, not 3.2:1.
PRIMARY_COLOR = "#0b7d62"


def records_not_saved(*, lang: str) -> html.Div:
    """The notice that the conversation is not being saved; hidden until a turn says so."""
    return html.Div(
        t(lang, "records.not_saved"),
        id=ids.RECORDS_NOT_SAVED,
        className="chat-records-not-saved",
        role="status",
        hidden=True,
    )


def page(options: PageOptions, *, lang: str, admin: bool = False) -> fac.AntdConfigProvider:
    """The chat page for one visitor (`admin`: with a link to the console). The thread
    itself is filled in by a callback."""
    content = html.Div(
        [
            dcc.Store(id=ids.HISTORY_STORE, storage_type="local"),
            # The id of the active conversation's record on the server (when records are on).
            dcc.Store(id=ids.CONVERSATION_STORE, storage_type="local"),
            dcc.Store(id=ids.STREAMING_STORE),
            dcc.Store(id=ids.RESULT_STORE),
            dcc.Store(id=ids.LANG_STORE, data=lang),
            dcc.Store(id=ids.TIME_ZONE_STORE),
            dcc.Store(
                id=ids.PAGE_CONFIG,
                data=page_config(
                    lang=lang,
                    max_input_chars=options.max_input_chars,
                    max_history_rounds=options.max_history_rounds,
                    records=options.records_enabled,
                    attach=attach_config(
                        options.attachments, lang=lang, records=options.records_enabled
                    )
                    if options.attachments
                    else None,
                    vision_models=options.vision_models,
                ),
            ),
            dcc.Store(id=ids.THREAD_REDRAW),
            dcc.Store(id=ids.OPEN_REQUEST),
            dcc.Store(id=ids.USAGE_TOTALS),
            dcc.Store(id=ids.CONTEXT_TOKENS),
            dcc.Store(id=ids.TURN_NUMBER, data=0),
            dcc.Store(id=ids.INPUT_PROBLEM),
            dcc.Store(id=ids.HISTORY_START, data=0),
            dcc.Store(id=ids.BRANCH_REQUEST),
            dcc.Store(id=ids.ASK_REQUEST),
            dcc.Download(id=ids.DOWNLOAD),
            html.Div(id=ids.TOAST_HOLDER),
            header(
                title=options.title,
                lang=lang,
                model_picker=model_picker(options.model_options, options.default_model),
                persona_picker=persona_picker(options.personas, lang=lang, hidden=options.locked),
                can_logout=options.can_logout,
                console=admin,
            ),
            settings_drawer(
                lang=lang,
                temperature=options.default_temperature,
                max_reply_tokens=options.max_reply_tokens,
                custom_persona=not options.locked,
                api_tokens=options.accounts,
            ),
            shortcuts_dialog(lang=lang),
            html.Div(
                [
                    sidebar(lang=lang, records_enabled=options.records_enabled),
                    html.Div(
                        [
                            html.Main(
                                [
                                    html.Div(
                                        [
                                            None
                                            if options.has_credentials
                                            else no_key_alert(lang=lang),
                                            html.Div(id=ids.HISTORY_LIST),
                                            live_question(lang=lang),
                                            live_reply(lang=lang),
                                            html.Div(id=ids.NOTICE),
                                        ],
                                        className="chat-column",
                                    )
                                ],
                                id=ids.MESSAGES,
                                className="chat-messages",
                            ),
                            records_not_saved(lang=lang),
                            html.Footer(
                                composer(
                                    lang=lang,
                                    max_chars=options.max_input_chars,
                                    quota=options.quota,
                                    attachments=options.attachments,
                                    records=options.records_enabled,
                                ),
                                className="app-footer",
                            ),
                        ],
                        className="app-main",
                    ),
                ],
                className="app-body",
            ),
        ],
        className="app-root",
        lang=i18n.html_lang(lang),
    )
    # Dark or light is the browser's to say: assets/theme.js sets `algorithm` there.
    return fac.AntdConfigProvider(
        content,
        primaryColor=PRIMARY_COLOR,
        locale=i18n.antd_locale(lang),
        wavesDisabled=True,
    )
