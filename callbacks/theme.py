"""The theme switch: all in the browser (assets/theme.js); the server never hears of it."""

from __future__ import annotations

from dash import ClientsideFunction, Input, Output, clientside_callback

from components import ids

# Its own output too: the first call (empty value) shows the remembered choice.
clientside_callback(
    ClientsideFunction(namespace="chatTheme", function_name="applyChoice"),
    Output(ids.THEME_SWITCH, "value"),
    Input(ids.THEME_SWITCH, "value"),
)
