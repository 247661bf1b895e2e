"""Helpers for the records tests: a PostgreSQL server and an empty schema per test (wrapped
in fixtures by the test files), worker processes, ageing a conversation.

PostgreSQL comes from TEST_POSTGRES_URL (`.ci/run` starts one, see `.ci/postgres.sh`). Without
it a developer's machine gets a throwaway cluster when the server binaries are installed, and
the tests skip when they are not. In CI (CI=true) they never skip: a missing URL or a server
that cannot be reached is a failure.
"""

from __future__ import annotations

import glob
import multiprocessing
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.engine import make_url

from services.records import Records
from services.records.models import Conversation, Message, utcnow

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _plain(url: str) -> str:
    """A libpq URL (for psycopg itself) from a SQLAlchemy one."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _check_reachable(url: str) -> None:
    import psycopg

    try:
        with psycopg.connect(_plain(url), connect_timeout=10) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        pytest.fail(f"TEST_POSTGRES_URL={url} cannot be reached: {error}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server_bin() -> str | None:
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        return None
    newest = max(found, key=lambda path: int(path.split("/")[4].split(".")[0]))
    return os.path.dirname(newest)


def _temporary_cluster() -> Iterator[str]:
    """Start a cluster in a temp directory (as `postgres` when we are root); yield its URL."""
    bin_dir = _server_bin()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL tests need TEST_POSTGRES_URL or the server binaries "
            "(apt-get install postgresql; see .ci/postgres.sh)"
        )
    # The server refuses to run as root.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    # Not under pytest's tmp_path: its parents are private to root, and the server is not.
    directory = tempfile.mkdtemp(prefix="chat-postgres-")
    data, port = os.path.join(directory, "data"), _free_port()
    try:
        if as_user:
            shutil.chown(directory, "postgres")
        server = f"-c listen_addresses=127.0.0.1 -p {port} -k {directory} -c fsync=off"
        commands = [
            ["initdb", "-D", data, "-U", "postgres", "--auth=trust", "--locale=C.UTF-8"],
            ["pg_ctl", "-D", data, "-l", f"{directory}/server.log", "-w", "-o", server, "start"],
            ["createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "chat_test"],
        ]
        for program, *args in commands:
            subprocess.run(
                [*as_user, f"{bin_dir}/{program}", *args],
                check=True,
                capture_output=True,
                timeout=60,
            )
    except (OSError, LookupError, subprocess.SubprocessError) as error:
        _stop(as_user, bin_dir, data)
        shutil.rmtree(directory, ignore_errors=True)
        output = getattr(error, "stderr", b"") or b""
        pytest.skip(f"could not start a temporary PostgreSQL: {error} {output.decode()[-500:]}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/chat_test"
    finally:
        _stop(as_user, bin_dir, data)
        shutil.rmtree(directory, ignore_errors=True)


def _stop(as_user: list[str], bin_dir: str, data: str) -> None:
    if os.path.exists(os.path.join(data, "postmaster.pid")):
        command = [*as_user, f"{bin_dir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"]
        subprocess.run(command, capture_output=True, timeout=60)


def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL database the tests may create schemas in (for a session-scoped
    fixture: `yield from postgres_server()`)."""
    url = os.environ.get("TEST_POSTGRES_URL")
    if url:
        _check_reachable(url)
        yield url
    elif IN_CI:
        pytest.fail("CI=true but TEST_POSTGRES_URL is not set: .ci/run should start PostgreSQL")
    else:
        yield from _temporary_cluster()


@contextmanager
def empty_schema(server_url: str) -> Iterator[str]:
    """A URL whose search_path is a new, empty schema, dropped afterwards. The schema is in
    the URL, so worker processes given the URL see the same tables."""
    import psycopg

    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_plain(server_url), autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    url = make_url(server_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_plain(server_url), autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def sqlite_url(directory) -> str:
    return f"sqlite:///{directory}/data/chat.db"


def age(records: Records, conversation_id: str, days: float) -> None:
    """Make a conversation and its messages look `days` old."""
    then = utcnow() - timedelta(days=days)
    with records.engine.begin() as connection:
        connection.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(created_at=then, updated_at=then)
        )
        connection.execute(
            update(Message)
            .where(Message.conversation_id == conversation_id)
            .values(created_at=then)
        )


# Worker processes. Module-level functions, so the "spawn" start method can import them; the
# barrier makes them start their work together instead of one after the other.


def add_messages_worker(url: str, owner: str, conversation_id: str, count: int, barrier) -> None:
    records = Records(url)
    barrier.wait(timeout=60)
    for number in range(count):
        entry = {"role": "user", "content": f"process {os.getpid()} message {number}"}
        if not records.add_message(owner, conversation_id, entry):
            raise AssertionError("add_message returned False")
    records.close()


def upgrade_worker(url: str, barrier) -> None:
    import alembic.command  # noqa: F401 (imported and connected before the barrier, so
    # that the upgrades themselves overlap)

    records = Records(url)
    records.engine.connect().close()
    barrier.wait(timeout=60)
    records.upgrade()
    records.close()


def run_processes(target: Callable, arguments: list[tuple]) -> None:
    """Run `target(*args, barrier)` in one spawned process per entry; all must succeed."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(arguments))
    processes = [context.Process(target=target, args=(*args, barrier)) for args in arguments]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    codes = [process.exitcode for process in processes]
    for process in processes:
        if process.is_alive():
            process.kill()
    # A worker's traceback is on stderr, which pytest shows with the failure.
    assert codes == [0] * len(processes), f"worker exit codes: {codes}"


def columns(records, table: str) -> set[str]:
    """The column names `table` has now (a migration test's before and after)."""
    from sqlalchemy import inspect

    with records.engine.connect() as connection:
        return {column["name"] for column in inspect(connection).get_columns(table)}
