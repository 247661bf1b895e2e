"""The header: title, model, and the actions (language, theme, multi-turn switch, export,
clear...).

Under 768 px the actions become the page's menu drawer (assets/style_narrow.css,
assets/menu.js): the same components, so nothing is duplicated and callbacks stay as they are.
"""

from __future__ import annotations

import feffery_antd_components as fac
from dash import get_relative_path, html

import i18n
from components import ids
from components.antd import dialog_buttons
from components.icon_button import icon_button
from components.theme import theme_switch
from i18n import t


def logout_button(*, lang: str) -> html.Form:
    """Sign out (ACCESS_PASSWORD): a plain form POST, so it works even if callbacks fail."""
    return html.Form(
        html.Button(
            t(lang, "header.logout"), id=ids.LOGOUT_BUTTON, type="submit", className="header-logout"
        ),
        action=get_relative_path("/logout"),
        method="post",
        className="header-logout-form",
    )


def menu_button(*, lang: str) -> html.Button:
    """The one button a phone's header keeps: it opens the drawer of actions and conversations
    (assets/menu.js keeps aria-expanded). Hidden on a wide screen."""
    return icon_button(
        "antd-menu",
        id=ids.HEADER_MENU,
        label=t(lang, "header.menu"),
        className="header-menu-button",
        **{"aria-expanded": "false", "aria-controls": ids.HEADER_ACTIONS},
    )


def console_link(*, lang: str) -> fac.AntdTooltip:
    """For admins (ACCOUNTS=true): the way to the console at /admin."""
    return fac.AntdTooltip(
        fac.AntdButton(
            autoInsertSpace=False,
            id=ids.CONSOLE_LINK,
            icon=fac.AntdIcon(icon="antd-dashboard"),
            href=get_relative_path("/admin"),
            **{"aria-label": t(lang, "header.console")},
        ),
        title=t(lang, "header.console"),
    )


def header(
    *,
    title: str,
    lang: str,
    model_picker,
    persona_picker,
    can_logout: bool = False,
    console: bool = False,
) -> html.Header:
    """The top bar of the page."""
    return html.Header(
        [
            menu_button(lang=lang),
            html.Div(
                [
                    fac.AntdButton(
                        autoInsertSpace=False,
                        id=ids.SIDEBAR_TOGGLE,
                        icon=fac.AntdIcon(icon="antd-menu"),
                        type="text",
                        **{"aria-label": t(lang, "sidebar.toggle")},
                    ),
                    fac.AntdIcon(icon="antd-robot", className="app-logo"),
                    html.Span(title, className="app-title"),
                    html.Span(t(lang, "app.subtitle"), className="app-subtitle"),
                    # The conversation's running token total and estimated cost.
                    html.Span(id=ids.HEADER_USAGE, className="header-usage"),
                ],
                className="app-brand",
            ),
            # Outside the actions: a phone's header keeps it when the actions become the menu.
            html.Div(
                fac.AntdTooltip(model_picker, title=t(lang, "header.model")),
                className="header-model",
            ),
            fac.AntdSpace(
                [
                    persona_picker,
                    fac.AntdTooltip(
                        html.Label(
                            [
                                fac.AntdSwitch(
                                    id=ids.MULTI_TURN_SWITCH,
                                    checked=True,
                                    size="small",
                                    persistence=True,
                                    persistence_type="local",
                                ),
                                html.Span(t(lang, "header.multi_turn")),
                            ],
                            className="header-switch",
                        ),
                        title=t(lang, "header.multi_turn_tip"),
                    ),
                    fac.AntdTooltip(
                        fac.AntdButton(
                            t(lang, "header.export"),
                            autoInsertSpace=False,
                            id=ids.EXPORT_BUTTON,
                            icon=fac.AntdIcon(icon="antd-download"),
                        ),
                        title=t(lang, "header.export_tip"),
                    ),
                    fac.AntdPopconfirm(
                        fac.AntdButton(
                            t(lang, "header.clear"),
                            autoInsertSpace=False,
                            id=ids.CLEAR_BUTTON,
                            icon=fac.AntdIcon(icon="antd-delete"),
                            danger=True,
                        ),
                        id=ids.CLEAR_CONFIRM,
                        title=t(lang, "header.clear_confirm"),
                        okText=t(lang, "header.clear_confirm_ok"),
                        cancelText=t(lang, "header.cancel"),
                        **dialog_buttons(danger=True),
                        placement="bottomRight",
                    ),
                    fac.AntdTooltip(
                        fac.AntdButton(
                            autoInsertSpace=False,
                            id=ids.SETTINGS_BUTTON,
                            icon=fac.AntdIcon(icon="antd-setting"),
                            **{"aria-label": t(lang, "header.settings")},
                        ),
                        title=t(lang, "header.settings"),
                    ),
                    fac.AntdSegmented(
                        id=ids.LANGUAGE_SWITCH,
                        options=i18n.options(),
                        value=lang,
                        size="small",
                    ),
                    theme_switch(lang=lang),
                    *([console_link(lang=lang)] if console else []),
                    *([logout_button(lang=lang)] if can_logout else []),
                ],
                wrap=True,
                id=ids.HEADER_ACTIONS,
                className="header-actions",
            ),
            # Behind the open menu on a phone: a click on it closes the menu (assets/menu.js).
            html.Div(className="header-menu-backdrop"),
        ],
        className="app-header",
    )
