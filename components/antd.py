"""Settings every antd widget of the page shares.

antd puts a space between the two characters of a two-character Chinese button label
("取 消", "保 存"). Chinese UIs do not write it, and the header's "清空" (a button with an
icon, which antd leaves alone) read differently from the confirm's. antd's ConfigProvider
has `autoInsertSpaceInButton` for this, but feffery-antd-components 0.4.6's
AntdConfigProvider does not pass it on (its props: algorithm, locale, token, ...), so each
button says it: `autoInsertSpace=False` on AntdButton, and the same in the props of the
buttons AntdModal and AntdPopconfirm draw. tests/unit/test_layout_antd.py checks that
every button of the page does.
"""

from __future__ import annotations

# antd's own Button prop; the feffery wrappers hand okButtonProps/cancelButtonProps to it as is.
NO_SPACE = {"autoInsertSpace": False}


def dialog_buttons(*, danger: bool = False) -> dict:
    """okButtonProps and cancelButtonProps for an AntdModal or AntdPopconfirm."""
    ok = {**NO_SPACE, "danger": True} if danger else dict(NO_SPACE)
    return {"okButtonProps": ok, "cancelButtonProps": dict(NO_SPACE)}
