"""The model picker and the settings drawer (generation settings, connection check)."""

from __future__ import annotations

import feffery_antd_components as fac
from dash import html

import i18n
from components import ids
from components.api_tokens import tokens_section
from components.shortcuts import shortcuts_button
from i18n import t, wait_text

TEMPERATURE_STEP = 0.1
TOP_P_STEP = 0.05


def model_picker(options: list[dict], default: str) -> fac.AntdSelect:
    """Models grouped by provider; the choice is remembered in the browser."""
    return fac.AntdSelect(
        id=ids.MODEL_SELECT,
        options=options,
        value=default,
        allowClear=False,
        persistence=True,
        persistence_type="local",
        style={"minWidth": 170},
        popupMatchSelectWidth=False,
    )


def step_decimals(step: float) -> int:
    """How many decimals a slider's value needs: its step's (0.1 -> 1, 0.05 -> 2)."""
    return len(f"{step:g}".partition(".")[2])


def slider_value(value: float | None, step: float) -> str:
    """A slider's value as its label shows it: 1.0 for temperature, 0.95 for top_p."""
    return "" if value is None else f"{value:.{step_decimals(step)}f}"


def _field(label: str, hint: str, control, *, value: html.Span | None = None) -> html.Div:
    return html.Div(
        [
            html.Div([html.Span(label), value], className="settings-label"),
            control,
            html.Div(hint, className="settings-hint"),
        ],
        className="settings-field",
    )


def custom_persona_field(*, lang: str, hidden: bool = False) -> html.Div:
    """The system prompt of the "Custom…" persona, written by the user.

    Hidden, not absent, with a locked persona: callbacks read it, and the server ignores it.
    """
    field = _field(
        t(lang, "persona.custom_prompt"),
        t(lang, "persona.custom_prompt_hint"),
        fac.AntdInput(
            id=ids.PERSONA_CUSTOM_PROMPT,
            mode="text-area",
            autoSize={"minRows": 3, "maxRows": 10},
            placeholder=t(lang, "persona.custom_placeholder"),
            persistence=True,
            persistence_type="local",
        ),
    )
    if hidden:
        field.style = {"display": "none"}
    return field


def settings_drawer(
    *,
    lang: str,
    temperature: float,
    max_reply_tokens: int,
    custom_persona: bool = True,
    api_tokens: bool = False,
) -> fac.AntdDrawer:
    """Temperature, top_p, max reply tokens, and a check of every provider's connection.

    The values are remembered in the browser; the server enforces the same bounds. With a
    locked persona there is no custom system prompt to write. With accounts, the user's own
    API tokens (components/api_tokens.py).
    """
    custom_off = {"disabled": True}
    return fac.AntdDrawer(
        [
            custom_persona_field(lang=lang, hidden=not custom_persona),
            html.Label(
                [
                    fac.AntdSwitch(
                        id=ids.CUSTOM_SAMPLING,
                        checked=False,
                        persistence=True,
                        persistence_type="local",
                    ),
                    html.Span(t(lang, "settings.custom")),
                ],
                className="header-switch settings-custom",
            ),
            html.Div(t(lang, "settings.custom_hint"), className="settings-hint"),
            _field(
                t(lang, "settings.temperature"),
                t(lang, "settings.temperature_hint"),
                fac.AntdSlider(
                    id=ids.TEMPERATURE,
                    min=0,
                    max=2,
                    step=TEMPERATURE_STEP,
                    marks={0: "0", 1: "1", 2: "2"},
                    value=temperature,
                    persistence=True,
                    persistence_type="local",
                    **custom_off,
                ),
                value=html.Span(
                    slider_value(temperature, TEMPERATURE_STEP),
                    id=ids.TEMPERATURE_VALUE,
                    className="settings-value",
                ),
            ),
            _field(
                t(lang, "settings.top_p"),
                t(lang, "settings.top_p_hint"),
                fac.AntdSlider(
                    id=ids.TOP_P,
                    min=0,
                    max=1,
                    step=TOP_P_STEP,
                    marks={0: "0", 0.5: "0.5", 1: "1"},
                    value=1,
                    persistence=True,
                    persistence_type="local",
                    **custom_off,
                ),
                value=html.Span(
                    slider_value(1, TOP_P_STEP), id=ids.TOP_P_VALUE, className="settings-value"
                ),
            ),
            _field(
                t(lang, "settings.max_tokens"),
                t(lang, "settings.max_tokens_hint", limit=max_reply_tokens),
                fac.AntdInputNumber(
                    id=ids.MAX_TOKENS,
                    min=1,
                    max=max_reply_tokens,
                    step=256,
                    placeholder=t(lang, "settings.model_default"),
                    persistence=True,
                    persistence_type="local",
                    style={"width": "100%"},
                    **custom_off,
                ),
            ),
            fac.AntdDivider(t(lang, "settings.connection"), innerTextOrientation="left"),
            html.Div(t(lang, "settings.connection_hint"), className="settings-hint"),
            fac.AntdButton(
                t(lang, "settings.check"),
                autoInsertSpace=False,
                id=ids.CHECK_BUTTON,
                icon=fac.AntdIcon(icon="antd-api"),
                className="settings-check-button",
            ),
            html.Div(id=ids.CHECK_RESULT, className="settings-check-result"),
            tokens_section(lang=lang) if api_tokens else None,
            fac.AntdDivider(),
            shortcuts_button(lang=lang),
        ],
        id=ids.SETTINGS_DRAWER,
        title=t(lang, "settings.title"),
        placement="right",
        width=380,
        visible=False,
    )


def check_refused(wait: int, *, lang: str):
    """The check was not run: this address has spent its hourly request budget."""
    return fac.AntdAlert(
        type="warning",
        showIcon=True,
        message=t(lang, "settings.check_limited", wait=wait_text(lang, wait)),
        className="settings-check-row settings-check-limited",
    )


def check_results(results: list[dict], *, lang: str) -> list:
    """One line per provider: OK with its latency, or what is wrong."""
    rows = []
    for result in results:
        title = f"{result['name']} · {result['model']}"
        if result["ok"]:
            rows.append(
                fac.AntdAlert(
                    type="success",
                    showIcon=True,
                    message=title,
                    description=t(lang, "settings.check_ok", ms=result["latency_ms"]),
                    className="settings-check-row",
                )
            )
            continue
        error = result["error"]
        # The check is the operator's tool: where the chat's words ask a user to tell the
        # operator, it says the fix instead.
        key = f"check.error.{error['type']}"
        if not i18n.has(key):
            key = f"error.{error['type']}"
        detail = error.get("detail", "")
        rows.append(
            fac.AntdAlert(
                type="error",
                showIcon=True,
                message=title,
                description=[
                    html.Div(t(lang, key, detail=detail)),
                    html.Div(detail, className="chat-error-detail") if detail else None,
                ],
                className="settings-check-row",
                **{"data-provider": result["id"]},
            )
        )
    return rows
