"""The language switch, the settings drawer and the connection check."""

from __future__ import annotations

from typing import Any

from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback

from api.callback_guard import typed
from api.limits import spend_budget
from callbacks.inputs import Lang
from components import ids
from components.settings import (
    TEMPERATURE_STEP,
    TOP_P_STEP,
    check_refused,
    check_results,
    step_decimals,
)
from extensions import chat_service
from services.check import check_providers

# Remember the choice in a cookie and reload: the server renders the page in that language.
clientside_callback(
    ClientsideFunction(namespace="chat", function_name="switchLanguage"),
    Input(ids.LANGUAGE_SWITCH, "value"),
    prevent_initial_call=True,
)

clientside_callback(
    "(clicks) => Boolean(clicks)",
    Output(ids.SETTINGS_DRAWER, "visible"),
    Input(ids.SETTINGS_BUTTON, "nClicks"),
    prevent_initial_call=True,
)

# Each slider's value beside its label (also the value restored from the browser's storage).
for slider, shown, step in (
    (ids.TEMPERATURE, ids.TEMPERATURE_VALUE, TEMPERATURE_STEP),
    (ids.TOP_P, ids.TOP_P_VALUE, TOP_P_STEP),
):
    clientside_callback(
        f"(v) => (v === null || v === undefined) ? '' : Number(v).toFixed({step_decimals(step)})",
        Output(shown, "children"),
        Input(slider, "value"),
    )

# The sliders only count (and only look editable) when custom settings are on.
clientside_callback(
    "(custom) => [!custom, !custom, !custom]",
    Output(ids.TEMPERATURE, "disabled"),
    Output(ids.TOP_P, "disabled"),
    Output(ids.MAX_TOKENS, "disabled"),
    Input(ids.CUSTOM_SAMPLING, "checked"),
)


@callback(
    Output(ids.CHECK_RESULT, "children"),
    Input(ids.CHECK_BUTTON, "nClicks"),
    State(ids.LANG_STORE, "data"),
    running=[(Output(ids.CHECK_BUTTON, "loading"), True, False)],
    prevent_initial_call=True,
)
@typed
def check_connections(_clicks: Any, lang: Lang | None):
    """Ask every provider for one token and show what happened (within the hourly budget)."""
    service = chat_service()
    wait = spend_budget(len(service.registry.config.providers))
    if wait is not None:
        return check_refused(wait, lang=lang)
    return check_results(check_providers(service), lang=lang)
