"""The language switch."""

from __future__ import annotations

from dash import ClientsideFunction, Input, clientside_callback

from components import ids

# Remember the choice in a cookie and reload: the server renders the page in that language.
clientside_callback(
    ClientsideFunction(namespace="chat", function_name="switchLanguage"),
    Input(ids.LANGUAGE_SWITCH, "value"),
    prevent_initial_call=True,
)
