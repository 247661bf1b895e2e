"""The settings drawer's API tokens (ACCOUNTS=true): listed when the drawer opens, made and
revoked by their user only (current_user(); another user's token id revokes nothing)."""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, callback, ctx, no_update
from dash.exceptions import PreventUpdate
from pydantic import BaseModel, ConfigDict

from api.callback_guard import typed
from api.identity import current_user
from callbacks.inputs import Lang
from components import ids
from components.api_tokens import TOKEN_REVOKE, new_token, token_list
from extensions import accounts

# A user's tokens are few (a script or two); this bounds what one account can pile up.
MAX_TOKENS = 20


class RevokeClick(BaseModel):
    """The id of a revoke button that was clicked."""

    model_config = ConfigDict(extra="forbid")

    type: str
    index: int


@callback(
    Output(ids.TOKEN_LIST, "children"),
    Output(ids.TOKEN_CREATED, "children"),
    Output(ids.TOKEN_NAME, "value"),
    Input(ids.SETTINGS_DRAWER, "visible"),
    Input(ids.TOKEN_CREATE, "nClicks"),
    Input({"type": TOKEN_REVOKE, "index": ALL}, "nClicks"),
    State(ids.TOKEN_NAME, "value"),
    State(ids.LANG_STORE, "data"),
    prevent_initial_call=True,
)
@typed
def api_tokens(
    visible: bool | None, _create: Any, _revoke: Any, name: str | None, lang: Lang | None
):
    """The signed-in user's tokens; a new one is shown once, here."""
    user, store = current_user(), accounts()
    if user is None or store is None:
        raise PreventUpdate
    trigger = ctx.triggered_id
    created, clear_name = None, no_update
    if trigger == ids.SETTINGS_DRAWER:
        if not visible:
            raise PreventUpdate
    elif trigger == ids.TOKEN_CREATE:
        if len(store.tokens(user.id)) < MAX_TOKENS:
            created = new_token(store.create_token(user.id, (name or "")[:64]), lang=lang)
            clear_name = ""
    elif isinstance(trigger, dict):
        if not ctx.triggered or not ctx.triggered[0]["value"]:
            raise PreventUpdate  # a button that merely appeared is not a click
        store.revoke_token(user.id, RevokeClick.model_validate(trigger).index)
    return token_list(store.tokens(user.id), lang=lang), created, clear_name
