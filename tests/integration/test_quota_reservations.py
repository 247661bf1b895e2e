"""Daily quotas reserve a reply's worst case when it starts (services/quota.py), on SQLite and
PostgreSQL: replies that start together cannot all spend the same tokens, a reply's row
becomes what it used when it ends, and a dead process's reservation does not hold the day."""

from __future__ import annotations

import gc
import http.client
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

import services.quota as quota_module
from services.accounts import Accounts
from services.admin.tables import users_query
from services.admin.usage import overview
from services.quota import HOLD_SECONDS, Quota, QuotaState, Reservation, Spent
from services.records.models import UsageEvent
from services.records.repository import Records
from tests.conftest import LiveServer

NOON = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)
OWNER = "a" * 32
USER = [{"role": "user", "content": "Hello"}]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """(url, Records) on a migrated, empty database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/quota.db"
    else:
        url = request.getfixturevalue("postgres_url")
    records = Records(url)
    records.upgrade()
    yield url, records
    records.close()


def start(prompt: int = 10, owner: str = OWNER) -> Spent:
    return Spent(owner=owner, source="api", model="gpt-4o-mini", prompt_tokens=prompt)


class Holder:
    """What settles a reservation (a reply's meter), as far as its hold is concerned."""


def rows(records) -> list:
    with records.engine.connect() as connection:
        return connection.execute(select(UsageEvent).order_by(UsageEvent.id)).all()


# ---------------------------------------------------------------------------- services/quota


def test_simultaneous_starts_with_a_budget_for_one_let_exactly_one_go(database):
    _, records = database
    keeper = Quota.for_records(records, 1000)
    barrier = threading.Barrier(6)
    held: list = []

    def reserve() -> None:
        barrier.wait()
        held.append(keeper.reserve(start(100), 1000, reply_tokens=900))

    threads = [threading.Thread(target=reserve) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    went = [h for h in held if isinstance(h, Reservation)]
    refused = [h for h in held if isinstance(h, QuotaState)]
    assert len(went) == 1 and len(refused) == 5, held
    assert all(state.used == 1000 and state.left == 0 for state in refused)
    assert keeper.used_today(OWNER) == 1000


def test_a_reply_that_does_not_fit_whole_gets_what_is_left(database):
    _, records = database
    keeper = Quota.for_records(records, 1000)
    keeper.record(Spent(owner=OWNER, source="api", prompt_tokens=500, completion_tokens=200))
    held = keeper.reserve(start(100), 1000, reply_tokens=16384)
    assert held.max_tokens == 200 and held.tokens == 300
    # A reply that fits whole keeps its own max_tokens (None: as the request asked).
    other = Quota.for_records(records, 10_000).reserve(start(10, "b" * 32), 10_000, reply_tokens=50)
    assert other.max_tokens is None and other.tokens == 60


def test_the_end_turns_the_reservation_into_what_was_used(database):
    _, records = database
    owner = Accounts(records).add_user("amy", "amy-password").id
    keeper = Quota.for_records(records, 1000)
    held = keeper.reserve(start(100, owner), 1000, reply_tokens=900)
    assert keeper.used_today(owner) == 1000

    def console() -> tuple[int, int]:
        """The console's tokens today: the overview's and the users table's."""
        with records.engine.connect() as connection:
            [amy] = [r for r in connection.execute(users_query()) if r.key == owner]
        return overview(records.engine).today.tokens, amy.tokens_today

    assert console() == (0, 0)  # spend only: the running reply has spent nothing yet
    used = Spent(owner=owner, source="api", prompt_tokens=90, completion_tokens=40, cost=0.01)
    assert keeper.settle(held.id, used)
    [row] = rows(records)
    assert (row.id, row.reserved, row.held_until) == (held.id, None, None)
    assert (row.prompt_tokens, row.completion_tokens, row.cost) == (90, 40, 0.01)
    assert keeper.used_today(owner) == 130
    assert console() == (130, 130)
    # A reply that used nothing (failed before its first token) leaves no row.
    other = keeper.reserve(start(100, owner), 1000, reply_tokens=900)
    keeper.settle(other.id, None)
    assert [r.id for r in rows(records)] == [held.id]


def test_a_dead_process_reservation_counts_its_prompt_once_it_lapses(database):
    _, records = database
    keeper = Quota.for_records(records, 1000)
    held = keeper.reserve(start(100), 1000, reply_tokens=900, now=NOON)
    assert keeper.used_today(OWNER, now=NOON + timedelta(seconds=HOLD_SECONDS - 1)) == 1000
    # Nobody renewed it (its process died): only its prompt, which was sent, still counts.
    later = NOON + timedelta(seconds=HOLD_SECONDS + 1)
    assert keeper.used_today(OWNER, now=later) == 100
    again = keeper.reserve(start(100), 1000, reply_tokens=900, now=later)
    assert isinstance(again, Reservation) and again.tokens == 900
    dead = next(r for r in rows(records) if r.id == held.id)
    assert (dead.reserved, dead.prompt_tokens) == (None, 100)  # settled as its prompt


def test_a_live_reservation_is_renewed_and_a_dropped_one_released(database, monkeypatch):
    _, records = database
    monkeypatch.setattr(quota_module, "HOLD_SECONDS", 0.4)
    keeper = Quota.for_records(records, 1000)
    live, dropped = Holder(), Holder()
    kept = keeper.reserve(start(100), 1000, reply_tokens=100)
    gone = keeper.reserve(start(100), 1000, reply_tokens=100)
    first = next(r for r in rows(records) if r.id == kept.id).held_until
    keeper.hold(kept, live)
    keeper.hold(gone, dropped)
    del dropped
    gc.collect()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = {r.id: r for r in rows(records)}
        if gone.id not in now and now[kept.id].held_until > first:
            break
        time.sleep(0.05)
    assert gone.id not in now, "a reservation nobody will settle still holds the day"
    assert now[kept.id].held_until > first, "a running reply's reservation was not renewed"
    keeper.settle(kept.id, None)


# ---------------------------------------------------------------------------- the app


def login(live) -> dict:
    url = urlsplit(live.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=20)
    body = json.dumps({"username": "amy", "password": "amy-password"})
    conn.request("POST", "/login", body, headers={"Content-Type": "application/json"})
    answer = conn.getresponse()
    answer.read()
    assert answer.status == 200
    cookies = "; ".join(v.split(";", 1)[0] for v in answer.headers.get_all("Set-Cookie"))
    return {"Content-Type": "application/json", "Cookie": cookies}


def ask(live, headers: dict):
    url = urlsplit(live.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=20)
    conn.request("POST", "/api/chat/stream", json.dumps({"messages": USER}), headers=headers)
    return conn, conn.getresponse()


@pytest.fixture
def app_on(database, make_app):
    url, records = database
    Accounts(records).add_user("amy", "amy-password")

    def serve(budget: int = 100):
        server = make_app(accounts=True, database_url=url, user_daily_tokens=budget).server
        return LiveServer(server)

    return serve


def test_many_replies_started_at_once_only_the_one_that_fits_goes(database, app_on, fake):
    from tests.fake_upstream import Reply

    hold = threading.Event()
    fake.script(*[Reply("Hello there", hold=hold) for _ in range(4)])
    statuses: list[int] = []
    done = threading.Condition()
    with app_on() as live:
        headers = login(live)
        barrier = threading.Barrier(4)

        def send() -> None:
            barrier.wait()
            conn, response = ask(live, headers)
            response.read()
            with done:
                statuses.append(response.status)
                done.notify_all()
            conn.close()

        threads = [threading.Thread(target=send) for _ in range(4)]
        for thread in threads:
            thread.start()
        with done:
            assert done.wait_for(lambda: statuses.count(429) == 3, 30), statuses
        fake.wait_for_requests(1)
        hold.set()
        for thread in threads:
            thread.join(30)
    assert sorted(statuses) == [200, 429, 429, 429]
    assert len(fake.requests) == 1  # the model was asked once
    [row] = rows(database[1])
    assert row.reserved is None and row.completion_tokens > 0


def test_a_stopped_reply_frees_what_it_did_not_use(database, app_on, fake):
    from tests.fake_upstream import Reply

    fake.script(Reply("word " * 400, chunk_size=5, delay=0.05))
    with app_on(budget=2000) as live:
        headers = login(live)
        conn, response = ask(live, headers)
        assert response.status == 200
        # Meanwhile the reply holds the rest of the day: another one is refused.
        other, refused = ask(live, headers)
        assert refused.status == 429
        refused.read()
        other.close()
        assert response.readline().startswith(b"data: ")
        (upstream,) = fake.wait_for_requests(1)
        response.close()
        conn.close()  # the client leaves: the reply stops
        assert upstream.client_disconnected.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(r.reserved for r in rows(database[1])):
            upstream.finished.wait(0.05)
        [row] = rows(database[1])
        assert row.reserved is None and 0 < row.prompt_tokens + row.completion_tokens < 2000
        fake.script(Reply("Again"))
        conn, response = ask(live, headers)
        assert response.status == 200  # what the stopped reply did not use is free again
        response.read()
        conn.close()


def test_a_page_reply_that_does_not_fit_whole_is_cut_at_what_is_left_and_says_so(
    database, app_on, fake
):
    from tests.fake_upstream import Reply
    from tests.integration.test_page_turn import page_body, parse_sse

    fake.script(Reply("A reply cut at its length", finish_reason="length"))
    with app_on(budget=1000) as live:
        url = urlsplit(live.url)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=20)
        conn.request("POST", "/api/chat/stream", json.dumps(page_body("Hi")), login(live))
        response = conn.getresponse()
        assert response.status == 200
        final = parse_sse(response.read().decode())[-1]
        conn.close()
    [asked] = fake.requests
    # MAX_REPLY_TOKENS (16384) does not fit: the reply may use what the prompt leaves.
    sent = asked.body.get("max_completion_tokens") or asked.body.get("max_tokens")
    assert 0 < sent < 1000
    assert final.get("done") and final.get("quota_cut") is True, final
    assert "Today's tokens ran out, so the reply was cut short." in json.dumps(final)
    [row] = rows(database[1])
    assert row.reserved is None
    # On record too, so the note is the same when the conversation is opened again.
    [*_, reply] = database[1].history(row.owner, final["turn"]["conversation_id"])
    assert (reply["status"], reply.get("quota_cut")) == ("length", True)


def ask_the_gateway_with_100_left(database, make_app, fake, **extra):
    """amy (900 of her 1,000 tokens spent) asks the gateway for 500 more; what went upstream."""
    from tests.fake_upstream import Reply

    url, records = database
    amy = Accounts(records).add_user("amy", "amy-password")
    token = Accounts(records).create_token(amy.id, "script")
    Quota.for_records(records, None).record(
        Spent(owner=amy.id, source="api", prompt_tokens=900, completion_tokens=0)
    )
    server = make_app(accounts=True, database_url=url, user_daily_tokens=1000).server
    fake.script(Reply("Cut", finish_reason="length"))
    body = {"model": "gpt-4o-mini", "messages": USER, "max_tokens": 500, **extra}
    answer = server.test_client().post(
        "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    [asked] = fake.requests
    return asked


def test_the_gateway_sends_what_is_left_under_the_clients_own_name(database, make_app, fake):
    asked = ask_the_gateway_with_100_left(database, make_app, fake)
    assert 0 < asked.body["max_tokens"] < 100  # what the prompt leaves of the 100 left
    assert "max_completion_tokens" not in asked.body
    assert all(row.reserved is None for row in rows(database[1]))


def test_a_reply_that_fails_before_its_first_token_gives_its_reservation_back(
    database, app_on, fake
):
    from tests.fake_upstream import Error, Reply

    fake.script(Error(400, "Bad request"), Reply("Hello!"))
    with app_on() as live:
        headers = login(live)
        url = urlsplit(live.url)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=20)
        conn.request("POST", "/api/chat", json.dumps({"messages": USER}), headers)
        failed = conn.getresponse()
        failed.read()
        assert failed.status == 400
        assert rows(database[1]) == []  # nothing used, nothing held
        conn.request("POST", "/api/chat", json.dumps({"messages": USER}), headers)
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 200  # the day was not held by the failed one
        conn.close()
    [row] = rows(database[1])
    assert row.reserved is None and row.completion_tokens > 0


def test_a_reply_a_deploy_ends_settles_its_reservation(database, app_on, fake):
    from services import stopping
    from tests.fake_upstream import Reply
    from tests.integration.test_page_turn import parse_sse

    fake.script(Reply("word " * 400, chunk_size=5, delay=0.05))
    with app_on(budget=20_000) as live:
        conn, response = ask(live, login(live))
        assert response.status == 200
        first = response.readline()
        assert first.startswith(b"data: ")
        try:
            stopping.begin(0)  # a deploy's SIGTERM (api/lifecycle.py), its grace over
            rest = response.read().decode()
        finally:
            stopping.reset()
        conn.close()
    final = parse_sse(first.decode() + rest)[-1]
    assert final["error"]["type"] == "server_stopping", final
    [row] = rows(database[1])
    assert row.reserved is None and row.held_until is None
    assert row.prompt_tokens > 0 and 0 < row.completion_tokens < len("word " * 400) // 4


def test_the_gateway_holds_every_choice_of_n_and_caps_each_at_its_share(database, make_app, fake):
    asked = ask_the_gateway_with_100_left(database, make_app, fake, n=4)
    assert asked.body["n"] == 4
    # Four replies share what the prompt leaves of the 100 left: at most a quarter each.
    assert 0 < asked.body["max_tokens"] <= 25
