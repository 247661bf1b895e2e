"""Words for the right reader: usage for `--help`, the operator's fix in the log at start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from i18n import t

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    full = {**clean, "CHAT_ENV_FILE": "", "RECORDS_ENABLED": "false", **(env or {})}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=full, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_the_usage_and_succeeds(flag) -> None:
    done = run("chat_app.py", flag)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python chat_app.py [COMMAND]")
    for command in ("local", "records", "users", "precompress", "gunicorn chat_app:server"):
        assert command in done.stdout


def test_an_app_without_a_key_tells_the_operator_at_start_up_and_the_users_to_ask() -> None:
    done = run("-c", "import chat_app")
    assert done.returncode == 0, done.stderr
    assert "WARNING" in done.stderr and "No API key is configured" in done.stderr
    assert "OPENAI_API_KEY" in done.stderr
    # The page's words are for its users: no variable names, no restart instructions.
    for lang in ("en", "zh-cn"):
        for key in ("nokey.body", "error.missing_api_key", "error.authentication_error"):
            words = t(lang, key, detail="OPENAI_API_KEY", wait="")
            assert "OPENAI_API_KEY" not in words and ".env" not in words, (lang, key)


def test_an_app_with_a_key_says_nothing_of_it() -> None:
    done = run("-c", "import chat_app", env={"OPENAI_API_KEY": "sk-test-" + "x" * 20})
    assert done.returncode == 0, done.stderr
    assert "No API key is configured" not in done.stderr
