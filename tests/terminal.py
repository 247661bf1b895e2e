"""Drive `python chat_app.py chat` as a person does: through a pseudo-terminal (pexpect), or
with a pipe for its stdin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pexpect

from services.terminal.identity import terminal_identity
from services.terminal.repl import PROMPT
from tests.conftest import TEST_KEY
from tests.fake_upstream import FakeUpstream

REPO = Path(__file__).resolve().parents[1]
# The locale variables a developer's shell may set: the tests pick the language themselves.
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE")


def chat_env(fake: FakeUpstream, home: Path, **overrides: str | None) -> dict[str, str]:
    """The chat's environment: the fake upstream, HOME in a test directory (its readline
    history goes there), English; `overrides` with None remove a variable."""
    env = {k: v for k, v in os.environ.items() if k not in LOCALE_VARIABLES}
    env.update(
        {
            "HOME": str(home),
            "CHAT_ENV_FILE": "",
            "OPENAI_API_KEY": TEST_KEY,
            "OPENAI_BASE_URL": fake.base_url,
            "OPENAI_MAX_RETRIES": "0",
            "OPENAI_TIMEOUT": "10",
            "LANG": "C.UTF-8",
            "TERM": "dumb",  # readline draws no escape sequences around the prompt
        }
    )
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def owner() -> str:
    """The records identity of the terminal (accounts off), for the test's SECRET_KEY."""
    return terminal_identity(os.environ["SECRET_KEY"])


class Terminal:
    """A running terminal chat: `ask` sends a line, `prompt` waits for the next prompt."""

    def __init__(self, env: dict[str, str], *args: str, timeout: float = 30):
        self.child = pexpect.spawn(
            sys.executable,
            ["chat_app.py", "chat", *args],
            cwd=str(REPO),
            env=env,
            encoding="utf-8",
            timeout=timeout,
            dimensions=(50, 400),  # no wrapping: long lines stay whole
        )
        self.prompt()

    def prompt(self) -> str:
        """Wait for the prompt (always at the start of a line); what came before it."""
        self.child.expect_exact("\n" + PROMPT)
        return self.child.before

    def send(self, line: str) -> None:
        self.child.sendline(line)
        self.child.expect_exact(line)  # the terminal's echo of the typed line

    def run(self, line: str) -> str:
        """Send `line`, wait for the next prompt; what was printed in between."""
        self.send(line)
        return self.prompt()

    def expect(self, text: str) -> None:
        self.child.expect_exact(text)

    def quit(self) -> int:
        self.child.sendeof()
        self.child.expect(pexpect.EOF)
        self.child.close()
        return self.child.exitstatus

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)


def piped(env: dict[str, str], text: str, *args: str) -> subprocess.CompletedProcess:
    """`echo text | python chat_app.py chat ...`."""
    return subprocess.run(
        [sys.executable, "chat_app.py", "chat", *args],
        cwd=REPO,
        env=env,
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
    )
