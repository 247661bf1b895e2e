"""Sign-in pauses shared through Redis (RATELIMIT_STORAGE_URI): a name paused by one instance
is paused at every instance, and the rest of the class still signs in."""

from __future__ import annotations

import pytest

from services.accounts import Accounts
from services.records.repository import Records
from tests.redis_server import flush, redis_server


@pytest.fixture(scope="module")
def redis_url():
    yield from redis_server()


def test_a_pause_counted_by_one_instance_holds_at_another(make_app, redis_url, tmp_path):
    flush(redis_url)
    url = f"sqlite:///{tmp_path}/accounts.db"
    Records(url).upgrade()
    accounts = Accounts(Records(url))
    accounts.add_user("amy", "amy-password")
    accounts.add_user("bob", "bob-password")
    settings = {"accounts": True, "database_url": url, "ratelimit_storage_uri": redis_url}
    first = make_app(**settings).server.test_client()
    second = make_app(**settings).server.test_client()
    for client in (first, second) * 5:
        wrong = client.post("/login", json={"username": "bob", "password": "guess"})
        assert wrong.status_code == 401
    for client in (first, second):
        paused = client.post("/login", json={"username": "bob", "password": "bob-password"})
        assert paused.status_code == 429
        amy = client.post("/login", json={"username": "amy", "password": "amy-password"})
        assert amy.status_code == 200
