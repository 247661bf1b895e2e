"""Fixtures shared by every test: a fake upstream on 127.0.0.1 and apps wired to it."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterator

import pytest
from werkzeug.serving import make_server

# A developer's own .env must never leak into the tests (set before the app is imported),
# and no test writes the repo's data/ directory: records and the cookie secret live elsewhere.
os.environ["CHAT_ENV_FILE"] = ""
os.environ["SECRET_KEY"] = "test-secret-not-for-production"
os.environ.setdefault(
    "DATABASE_URL", f"sqlite:///{tempfile.mkdtemp(prefix='chat-records-')}/chat.db"
)
os.environ.setdefault("ATTACHMENT_DIR", tempfile.mkdtemp(prefix="chat-attachments-"))

from chat_app import create_app
from config import Settings
from tests.fake_upstream import FakeUpstream

TEST_KEY = "sk-test-fake-key-0000"  # deliberately not shaped like a real key


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeUpstream]:
    """One fake Chat Completions server for the whole run."""
    with FakeUpstream(api_key=TEST_KEY) as fake:
        yield fake


@pytest.fixture
def fake(upstream: FakeUpstream) -> FakeUpstream:
    """The fake upstream, with an empty script and no recorded requests."""
    upstream.reset()
    return upstream


def settings_for(fake: FakeUpstream, **overrides: object) -> Settings:
    """Settings that point at `fake`, with no retries so each scripted error surfaces once."""
    values: dict = {
        "openai_api_key": TEST_KEY,
        "openai_base_url": fake.base_url,
        "openai_max_retries": 0,
        "openai_timeout": 10.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def make_app(fake: FakeUpstream) -> Callable:
    """Build an app against the fake: `make_app(max_input_chars=10)`."""

    def build(**overrides: object):
        return create_app(settings_for(fake, **overrides))

    return build


@pytest.fixture
def client(make_app):
    """A Flask test client for the default app."""
    return make_app().server.test_client()


class LiveServer:
    """A real threaded HTTP server for a WSGI app, on a free port of 127.0.0.1."""

    def __init__(self, wsgi_app) -> None:
        self._server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        # A short poll interval makes shutdown (once per test) take milliseconds, not 0.5 s.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()


@pytest.fixture
def live_server(make_app) -> Callable:
    """Serve an app for real: `with live_server(max_input_chars=10) as server: server.url`."""

    def start(**overrides: object) -> LiveServer:
        return LiveServer(make_app(**overrides).server)

    return start


# ---- PostgreSQL (tests/records_db.py): one server for the whole run, an empty schema per test


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    from tests import records_db

    yield from records_db.postgres_server()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    from tests import records_db

    with records_db.empty_schema(postgres_server) as url:
        yield url


@pytest.fixture
def postgres_records(postgres_url: str):
    """Records on a migrated, empty PostgreSQL schema."""
    from services.records import Records

    records = Records(postgres_url)
    records.upgrade()
    yield records
    records.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def either_database_url(request, tmp_path) -> Iterator[str]:
    """An empty database of each kind the records support (a test runs once on each)."""
    from tests import records_db

    if request.param == "sqlite":
        yield records_db.sqlite_url(tmp_path)
        return
    with records_db.empty_schema(request.getfixturevalue("postgres_server")) as url:
        yield url
