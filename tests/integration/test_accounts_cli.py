"""`python chat_app.py users ...`, run as an operator runs it, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.accounts import Accounts
from services.records import Records
from tests import records_db

APP_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def url(either_database_url: str) -> str:
    return either_database_url


def users(url: str, *args: str, stdin: str = "", module: bool = True):
    """One `users` command; through chat_app.py itself when `module` is False."""
    command = ["-m", "services.accounts.cli", *args] if module else ["chat_app.py", "users", *args]
    environment = {**os.environ, "DATABASE_URL": url, "CHAT_ENV_FILE": ""}
    return subprocess.run(
        [sys.executable, *command],
        cwd=APP_DIR,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


def test_the_first_admin_on_an_empty_database(url):
    # No `db upgrade` first: the command migrates the database itself.
    done = users(
        url, "add", "Amy", "--admin", "--password-stdin", stdin="amy-password\n", module=False
    )
    assert done.returncode == 0, done.stderr
    assert "added Amy (admin)" in done.stdout
    assert "amy-password" not in done.stdout + done.stderr
    accounts = Accounts(Records(url))
    assert accounts.authenticate("amy", "amy-password").is_admin


def test_list_disable_enable_reset_token_and_delete(url):
    assert users(url, "add", "bob", "--password-stdin", stdin="bob-password\n").returncode == 0
    records = Records(url)
    accounts = Accounts(records)
    bob = accounts.by_name("bob")
    cid = records.create_conversation(bob.id)
    records.add_message(bob.id, cid, {"role": "user", "content": "bob's question"})

    listed = users(url, "list")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("bob "))
    assert row.split()[1:5] == ["user", "enabled", "default", "never"]

    assert users(url, "disable", "BOB").returncode == 0
    assert accounts.authenticate("bob", "bob-password") is None
    assert "disabled" in users(url, "list").stdout
    assert users(url, "enable", "bob").returncode == 0
    assert accounts.authenticate("bob", "bob-password") is not None

    reset = users(url, "reset-password", "bob", "--password-stdin", stdin="a-new-password\n")
    assert reset.returncode == 0, reset.stderr
    assert accounts.authenticate("bob", "a-new-password") is not None
    assert accounts.authenticate("bob", "bob-password") is None

    made = users(url, "token", "bob", "--name", "grading script")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("cgpt_") and "shown once" in made.stderr
    assert accounts.user_for_token(token).username == "bob"
    assert [t.name for t in accounts.tokens(bob.id)] == ["grading script"]

    # Not a terminal and neither flag: it refuses rather than guess.
    asked = users(url, "delete", "bob")
    assert asked.returncode == 1
    assert "--keep-records or --purge-records" in asked.stderr
    assert users(url, "delete", "bob", "--keep-records").returncode == 0
    assert accounts.by_name("bob") is None
    assert accounts.user_for_token(token) is None
    assert records.history(bob.id, cid) is not None  # kept, for export


def test_purge_deletes_the_conversations(url):
    users(url, "add", "cy", "--password-stdin", stdin="cy-password\n")
    records = Records(url)
    cy = Accounts(records).by_name("cy")
    cid = records.create_conversation(cy.id)
    done = users(url, "delete", "cy", "--purge-records")
    assert done.returncode == 0, done.stderr
    assert "deleted 1 conversation(s)" in done.stdout
    assert records.history(cy.id, cid) is None


@pytest.mark.parametrize(
    ("args", "stdin", "words"),
    [
        (("add", "two words", "--password-stdin"), "long-enough\n", "without spaces"),
        (("add", "dan", "--password-stdin"), "short\n", "at least 8 characters"),
        (("disable", "nobody"), "", "no account with that name"),
        (("reset-password", "nobody", "--password-stdin"), "long-enough\n", "no account"),
        (("token", "nobody"), "", "no account with that name"),
        (("delete", "nobody", "--purge-records"), "", "no account with that name"),
    ],
)
def test_refusals_are_plain_words(args, stdin, words, tmp_path):
    done = users(records_db.sqlite_url(tmp_path), *args, stdin=stdin)
    assert done.returncode == 1
    assert words in done.stderr
    assert "Traceback" not in done.stderr


def test_a_taken_name_and_the_last_admin(tmp_path):
    url = records_db.sqlite_url(tmp_path)
    users(url, "add", "amy", "--admin", "--password-stdin", stdin="amy-password\n")
    again = users(url, "add", "AMY", "--password-stdin", stdin="other-password\n")
    assert again.returncode == 1 and "That name is taken" in again.stderr
    last = users(url, "delete", "amy", "--purge-records")
    assert last.returncode == 1 and "last admin" in last.stderr


def test_usage_errors(tmp_path):
    url = records_db.sqlite_url(tmp_path)
    both = users(url, "delete", "amy", "--keep-records", "--purge-records")
    assert both.returncode == 2
    assert users(url).returncode == 2
    assert "reset-password" in users(url, "--help").stdout


def at_a_terminal(url: str, args: list[str], answers: list[tuple[str, str]]) -> tuple[int, str]:
    """Run a `users` command in a pseudo-terminal, answering each prompt as a person types."""
    import pty
    import select
    import time

    environment = {**os.environ, "DATABASE_URL": url, "CHAT_ENV_FILE": ""}
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command, with the terminal as its stdin and /dev/tty
        os.chdir(APP_DIR)
        os.execve(
            sys.executable, [sys.executable, "-m", "services.accounts.cli", *args], environment
        )
    seen = ""

    def read_until(text: str | None) -> None:
        nonlocal seen
        deadline = time.monotonic() + 60
        while text is None or text not in seen:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in {seen!r}")
            ready, _, _ = select.select([fd], [], [], 1)
            if ready:
                try:
                    chunk = os.read(fd, 1024)
                except OSError:  # the command ended
                    chunk = b""
                if not chunk:
                    if text is None:
                        return
                    raise AssertionError(f"ended without {text!r}: {seen!r}")
                seen += chunk.decode("utf-8", "replace")

    for prompt, answer in answers:
        read_until(prompt)
        os.write(fd, answer.encode() + b"\n")
    read_until(None)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), seen


def test_passwords_are_asked_twice_and_never_echoed(tmp_path):
    url = records_db.sqlite_url(tmp_path)
    code, shown = at_a_terminal(
        url,
        ["add", "amy", "--admin"],
        [("Password: ", "typed-at-the-desk"), ("Password again: ", "typed-at-the-desk")],
    )
    assert code == 0, shown
    assert "added amy (admin)" in shown
    assert "typed-at-the-desk" not in shown
    assert Accounts(Records(url)).authenticate("amy", "typed-at-the-desk") is not None
    code, shown = at_a_terminal(
        url,
        ["reset-password", "amy"],
        [("Password: ", "one-new-password"), ("Password again: ", "another-password")],
    )
    assert code == 1 and "the two passwords differ" in shown


def test_delete_asks_whether_to_keep_or_purge_at_a_terminal(tmp_path):
    url = records_db.sqlite_url(tmp_path)
    records = Records(url)
    records.upgrade()
    accounts = Accounts(records)
    bob = accounts.add_user("bob", "bob-password")
    cid = records.create_conversation(bob.id)
    records.add_message(bob.id, cid, {"role": "user", "content": "question"})
    code, shown = at_a_terminal(
        url, ["delete", "bob"], [("Keep them (k) or purge them (p)? ", "p")]
    )
    assert code == 0, shown
    assert "bob has 1 conversation(s)" in shown and "deleted 1 conversation(s)" in shown
    assert records.history(bob.id, cid) is None


def test_a_password_reset_signs_the_user_out_everywhere(make_app, tmp_path):
    url = records_db.sqlite_url(tmp_path)
    users(url, "add", "bob", "--password-stdin", stdin="bob-password\n")
    server = make_app(accounts=True, database_url=url).server
    browser = server.test_client()
    signed_in = browser.post("/login", json={"username": "bob", "password": "bob-password"})
    assert signed_in.status_code == 200
    assert browser.get("/_dash-layout").status_code == 200
    reset = users(url, "reset-password", "bob", "--password-stdin", stdin="new-password-1\n")
    assert "signed out of 1 session(s)" in reset.stdout, reset.stderr
    assert browser.get("/_dash-layout").status_code == 401


def test_names_no_account_can_have_find_nothing(url):
    records = Records(url)
    records.upgrade()
    accounts = Accounts(records)
    accounts.add_user("amy", "amy-password")
    # PostgreSQL refuses NUL in a query's text: a name holding one must find nothing, not fail.
    for name in ("amy\x00", "\x00", "' OR '1'='1", "%", "amy_"):
        assert accounts.by_name(name) is None
        assert accounts.authenticate(name, "amy-password") is None
