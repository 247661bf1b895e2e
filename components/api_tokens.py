"""The settings drawer's "API tokens" section (ACCOUNTS=true): make, list and revoke one's own
personal tokens. A new token is shown once, with a copy button; the list shows only a prefix."""

from __future__ import annotations

import feffery_antd_components as fac
from dash import html

from components import ids
from i18n import t

# Pattern id of each token's revoke button: {"type": TOKEN_REVOKE, "index": <token id>}.
TOKEN_REVOKE = "api-token-revoke"


def tokens_section(*, lang: str) -> html.Div:
    """The section's fixed part; its list is filled when the drawer opens."""
    return html.Div(
        [
            fac.AntdDivider(t(lang, "tokens.title"), innerTextOrientation="left"),
            html.Div(t(lang, "tokens.hint"), className="settings-hint"),
            html.Div(
                [
                    fac.AntdInput(
                        id=ids.TOKEN_NAME,
                        placeholder=t(lang, "tokens.name"),
                        maxLength=64,
                        style={"flex": 1},
                    ),
                    fac.AntdButton(
                        t(lang, "tokens.create"),
                        id=ids.TOKEN_CREATE,
                        autoInsertSpace=False,
                        icon=fac.AntdIcon(icon="antd-key"),
                    ),
                ],
                className="api-tokens-new",
            ),
            html.Div(id=ids.TOKEN_CREATED),
            html.Div(id=ids.TOKEN_LIST, className="api-tokens-list"),
        ],
        className="api-tokens",
    )


def new_token(token: str, *, lang: str) -> fac.AntdAlert:
    """The token just made, shown this once."""
    return fac.AntdAlert(
        type="success",
        showIcon=True,
        message=t(lang, "tokens.created"),
        description=fac.AntdText(token, code=True, copyable=True, className="api-token-value"),
        className="api-token-created",
    )


def _when(moment, lang: str) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else t(lang, "tokens.never")


def token_list(tokens: list, *, lang: str) -> list | html.Div:
    """One row per token: its name, prefix, when made and last used, and a revoke button.
    Names are the user's text: shown as text, never as markup."""
    if not tokens:
        return html.Div(t(lang, "tokens.none"), className="settings-hint api-tokens-none")
    return [
        html.Div(
            [
                html.Div(
                    [
                        html.Div(token.name or "—", className="api-token-name"),
                        html.Div(
                            f"{t(lang, 'tokens.prefix')} {token.prefix}… · "
                            f"{t(lang, 'tokens.made')} {_when(token.created_at, lang)} · "
                            f"{t(lang, 'tokens.used')} {_when(token.last_used_at, lang)}",
                            className="settings-hint",
                        ),
                    ],
                    style={"flex": 1, "minWidth": 0},
                ),
                fac.AntdButton(
                    t(lang, "tokens.revoke"),
                    id={"type": TOKEN_REVOKE, "index": token.id},
                    size="small",
                    danger=True,
                    autoInsertSpace=False,
                ),
            ],
            className="api-token-row",
        )
        for token in tokens
    ]
