"""The keyboard shortcuts dialog: opened from the settings drawer (assets/keys.js opens it on
`?` and Ctrl/⌘+/)."""

from __future__ import annotations

from dash import Input, Output, clientside_callback

from components import ids

clientside_callback(
    # The drawer steps aside for the dialog.
    "(clicks) => [true, false]",
    Output(ids.SHORTCUTS_DIALOG, "visible"),
    Output(ids.SETTINGS_DRAWER, "visible", allow_duplicate=True),
    Input(ids.SHORTCUTS_BUTTON, "nClicks"),
    prevent_initial_call=True,
)
