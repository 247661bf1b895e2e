"""What is left of the signed-in user's daily tokens (`#quota-left` under the message box).

Shown again whenever the header's usage total changes: at load, and after every turn (its
usage joins the total in callbacks/chat.py `finish_reply`), refused ones too.
"""

from __future__ import annotations

from typing import Any

from dash import Input, Output, callback

from api.callback_guard import typed
from api.identity import current_user
from callbacks.inputs import Lang
from components import ids
from components.usage import quota_left
from extensions import accounts, quota
from i18n import t

HIDDEN = ("", True, "")


@callback(
    Output(ids.QUOTA_LEFT, "children"),
    Output(ids.QUOTA_LEFT, "hidden"),
    Output(ids.QUOTA_LEFT, "title"),
    Input(ids.USAGE_TOTALS, "data"),
    Input(ids.LANG_STORE, "data"),
)
@typed
def show_quota_left(_totals: Any, lang: Lang | None):
    """ "12,300 of 50,000 tokens left today"; hidden without accounts or without a budget."""
    keeper = quota()
    if keeper is None or accounts() is None:
        return HIDDEN
    state = keeper.left(current_user())
    if state is None:
        return HIDDEN
    lang = lang or "en"
    return quota_left(state, lang=lang), False, t(lang, "quota.left_tip", zone=keeper.zone_name)
