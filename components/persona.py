"""The persona picker and a persona's greeting."""

from __future__ import annotations

import feffery_antd_components as fac
from dash import html

from components import ids
from i18n import t
from services.personas import CUSTOM_ID, Persona, PersonasConfig, localized


def persona_picker(personas: PersonasConfig, *, lang: str, hidden: bool = False) -> fac.AntdSelect:
    """Every persona plus "Custom…"; fixed once a conversation has started.

    Hidden (but present, so callbacks keep their inputs) when a persona is locked.
    """
    options = [
        {"label": f"{p.avatar} {localized(p.name, lang)}", "value": p.id} for p in personas.personas
    ]
    options.append({"label": f"✏️ {t(lang, 'persona.custom')}", "value": CUSTOM_ID})
    return fac.AntdSelect(
        id=ids.PERSONA_SELECT,
        options=options,
        value=personas.default_persona.id,
        allowClear=False,
        # Not kept by the browser: a conversation shows its own persona (callbacks/chat.py
        # show_thread), a new one starts with the default.
        style={"minWidth": 150, "display": "none"} if hidden else {"minWidth": 150},
        popupMatchSelectWidth=False,
    )


def greeting(persona: Persona | None, *, lang: str) -> html.Div | None:
    """The persona's greeting at the top of the thread; shown, never sent upstream."""
    text = localized(persona.greeting, lang) if persona else ""
    if not text:
        return None
    return html.Div(
        [
            html.Div(persona.avatar, className="chat-avatar chat-avatar-emoji"),
            html.Div(
                [
                    html.Div(localized(persona.name, lang), className="chat-role"),
                    html.Div(text, className="chat-bubble chat-greeting-text"),
                ],
                className="chat-body",
            ),
        ],
        className="chat-message-greeting",
    )
