"""The page's antd widgets: no space antd would put into two-character Chinese labels."""

from __future__ import annotations

from datetime import datetime, timezone

import feffery_antd_components as fac
import pytest
from dash.development.base_component import Component

from components import ids
from components.layout import PageOptions, page
from components.message import error_message
from components.settings import slider_value
from components.sidebar import conversation_list
from config import APP_DIR
from services.personas import load_personas


def options(**changes) -> PageOptions:
    values = dict(
        title="Chat",
        has_credentials=True,
        model_options=[{"label": "m", "value": "m"}],
        default_model="m",
        personas=load_personas(APP_DIR / "personas.yaml"),
        locked=False,
        max_input_chars=1000,
        max_history_rounds=10,
        max_reply_tokens=4096,
        default_temperature=1.0,
        records_enabled=True,
        can_logout=True,
    )
    values.update(changes)
    return PageOptions(**values)


def walk(node):
    """Every component under `node`, including those held in props such as a modal's."""
    if isinstance(node, (list, tuple)):
        for item in node:
            yield from walk(item)
        return
    if not isinstance(node, Component):
        return
    yield node
    for name in node._prop_names:
        yield from walk(getattr(node, name, None))


def components_of(*roots) -> list[Component]:
    return [c for root in roots for c in walk(root)]


def everything(lang: str) -> list[Component]:
    now = datetime(2026, 12, 6, 12, tzinfo=timezone.utc)
    listed = conversation_list(
        [{"id": "c1", "title": "t", "updated_at": now.isoformat()}], active="c1", lang=lang, now=now
    )
    error = error_message({"role": "error", "kind": "network"}, lang=lang, index=1, retry=True)
    return components_of(page(options(), lang=lang), listed, error)


@pytest.mark.parametrize("lang", ["zh-cn", "en"])
def test_every_button_turns_off_the_space_between_two_chinese_characters(lang: str) -> None:
    found = everything(lang)
    buttons = [c for c in found if isinstance(c, fac.AntdButton)]
    dialogs = [c for c in found if isinstance(c, (fac.AntdModal, fac.AntdPopconfirm))]
    assert len(buttons) >= 8 and len(dialogs) >= 3
    for button in buttons:
        assert button.autoInsertSpace is False, button.to_plotly_json()
    for dialog in dialogs:
        assert dialog.okButtonProps["autoInsertSpace"] is False, dialog.id
        assert dialog.cancelButtonProps["autoInsertSpace"] is False, dialog.id


def test_danger_confirms_stay_danger() -> None:
    found = everything("zh-cn")
    popconfirms = [c for c in found if isinstance(c, fac.AntdPopconfirm)]
    assert popconfirms and all(c.okButtonProps["danger"] is True for c in popconfirms)


@pytest.mark.parametrize(
    ("value", "step", "shown"),
    [
        (1.0, 0.1, "1.0"),
        (0.7, 0.1, "0.7"),
        (1, 0.05, "1.00"),
        (0.95, 0.05, "0.95"),
        (None, 0.1, ""),
    ],
)
def test_a_slider_shows_its_value_with_its_steps_decimals(value, step, shown) -> None:
    assert slider_value(value, step) == shown


def test_the_sliders_show_their_starting_values_beside_their_labels() -> None:
    found = {c.id: c for c in everything("en") if isinstance(getattr(c, "id", None), str)}
    assert found[ids.TEMPERATURE_VALUE].children == "1.0"
    assert found[ids.TOP_P_VALUE].children == "1.00"
