"""A plain button that shows only an icon: its name is on it for screen readers and hover."""

from __future__ import annotations

import feffery_antd_components as fac
from dash import html


def icon_button(icon: str, *, id: str, label: str, className: str, **attributes) -> html.Button:
    """`icon` (an antd icon name) on a `type="button"`, named `label`; `attributes` are more
    HTML attributes (`hidden`, `aria-expanded` ...)."""
    return html.Button(
        fac.AntdIcon(icon=icon),
        id=id,
        type="button",
        title=label,
        className=className,
        **{"aria-label": label, **attributes},
    )
