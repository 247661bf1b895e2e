"""gunicorn.conf.py's port: PORT (Render, App Service's own), else WEBSITES_PORT, else 8050."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"


@pytest.mark.parametrize(
    ("env", "bind"),
    [
        ({}, "0.0.0.0:8050"),
        ({"PORT": "9000"}, "0.0.0.0:9000"),
        ({"WEBSITES_PORT": "8181"}, "0.0.0.0:8181"),
        ({"PORT": "9000", "WEBSITES_PORT": "8181"}, "0.0.0.0:9000"),
        ({"PORT": "", "WEBSITES_PORT": "8181"}, "0.0.0.0:8181"),
    ],
)
def test_bind(monkeypatch, env, bind):
    for name in ("PORT", "WEBSITES_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert runpy.run_path(str(CONF))["bind"] == bind
