"""ACCOUNTS=true over HTTP: sign-in pauses, sign-up with the code, cross-site refusal, API tokens
on /api/* and the gateway, records that stay their user's, adoption, and what a running reply
does when its session ends or its token is revoked."""

from __future__ import annotations

import json
import logging
import threading

import httpx2 as httpx
import pytest

from api import gateway as api_gateway
from api.identity import COOKIE, current_identity, current_user
from services.accounts import Accounts
from services.records.journal import writer_id
from services.records.repository import Records
from tests.conftest import TEST_KEY, LiveServer
from tests.e2e.conftest import AppProcess
from tests.fake_upstream import Reply

HTML = {"Accept": "text/html"}
QUESTION = {"messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture
def url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path}/accounts.db"
    Records(url).upgrade()
    return url


@pytest.fixture
def accounts(url) -> Accounts:
    accounts = Accounts(Records(url))
    accounts.add_user("amy", "amy-password", admin=True)
    accounts.add_user("bob", "bob-password")
    return accounts


@pytest.fixture
def app(make_app, url, accounts):
    return make_app(accounts=True, database_url=url).server


def sign_in(client, name: str, password: str, **headers):
    return client.post(
        "/login", json={"username": name, "password": password}, headers=headers or None
    )


def from_address(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


# ---- sign-in pauses


def test_wrong_guesses_pause_that_name_from_that_address_only(app):
    bob_guesser = app.test_client()
    here = from_address("10.0.0.7")
    for _ in range(10):
        wrong = bob_guesser.post("/login", json={"username": "bob", "password": "guess"}, **here)
        assert wrong.status_code == 401
    # Paused: even the right password is refused now, with how long to wait.
    paused = bob_guesser.post(
        "/login", json={"username": "bob", "password": "bob-password"}, **here
    )
    assert paused.status_code == 429
    assert int(paused.headers["Retry-After"]) > 60
    assert "this name" in paused.get_json()["error"]["message"]
    # The rest of the class behind the same router signs in.
    amy = app.test_client().post(
        "/login", json={"username": "amy", "password": "amy-password"}, **here
    )
    assert amy.status_code == 200
    # And bob himself, from his own computer elsewhere.
    elsewhere = app.test_client().post(
        "/login", json={"username": "bob", "password": "bob-password"}, **from_address("10.9.9.9")
    )
    assert elsewhere.status_code == 200


def test_an_unknown_name_pauses_the_same_way(app):
    client = app.test_client()
    answers = [
        client.post("/login", json={"username": "nobody", "password": "x"}).status_code
        for _ in range(11)
    ]
    assert answers == [401] * 10 + [429]


def test_right_passwords_never_count(app):
    client = app.test_client()
    for _ in range(15):
        assert sign_in(client, "amy", "amy-password").status_code == 200


def test_the_form_says_why_in_the_visitors_language(app):
    client = app.test_client()
    for _ in range(10):
        client.post("/login", data={"username": "bob", "password": "x"}, headers=HTML)
    zh = client.post(
        "/login",
        data={"username": "bob", "password": "bob-password"},
        headers={**HTML, "Accept-Language": "zh-CN"},
    )
    assert zh.status_code == 429
    body = zh.get_data(as_text=True)
    assert "这个用户名输错密码次数过多" in body
    assert 'value="bob"' in body and "bob-password" not in body


def test_one_address_has_a_looser_limit_across_names(app, monkeypatch):
    monkeypatch.setattr("api.signin_limits.ADDRESS_LIMIT", "3/hour")
    client = app.test_client()
    for name in ("a1", "a2", "a3"):
        assert client.post("/login", json={"username": name, "password": "x"}).status_code == 401
    refused = sign_in(client, "amy", "amy-password")
    assert refused.status_code == 429
    assert "your network" in refused.get_json()["error"]["message"]


def test_one_name_from_many_addresses_pauses_everywhere(app, monkeypatch):
    monkeypatch.setattr("api.signin_limits.NAME_LIMIT", "4/hour")
    for n in range(4):
        client = app.test_client()
        wrong = client.post(
            "/login", json={"username": "bob", "password": "x"}, **from_address(f"10.1.0.{n}")
        )
        assert wrong.status_code == 401
    late = app.test_client().post(
        "/login", json={"username": "bob", "password": "bob-password"}, **from_address("10.2.0.1")
    )
    assert late.status_code == 429


# ---- sign-up


@pytest.fixture
def open_app(make_app, url, accounts):
    return make_app(accounts=True, database_url=url, signup_code="board-2026").server


def test_sign_up_is_off_without_a_code(app):
    client = app.test_client()
    assert client.get("/signup", headers=HTML).status_code == 404
    assert client.post("/signup", data={"username": "cy"}).status_code == 404
    assert 'id="signup-link"' not in client.get("/login", headers=HTML).get_data(as_text=True)


def test_sign_up_with_the_code_makes_a_user_and_signs_in(open_app, accounts):
    client = open_app.test_client()
    login = client.get("/login", headers=HTML).get_data(as_text=True)
    assert 'id="signup-link"' in login
    assert client.get("/signup", headers=HTML).status_code == 200
    made = client.post(
        "/signup",
        data={
            "username": "Cy",
            "password": "cy-password",
            "password2": "cy-password",
            "code": "board-2026",
        },
        headers=HTML,
    )
    assert made.status_code == 303
    assert client.get("/", headers=HTML).status_code == 200
    cy = accounts.by_name("cy")
    assert cy.role == "user" and not cy.disabled


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [
        ({"username": "amy"}, 409, "That name is taken"),
        ({"username": "two words"}, 400, "without spaces"),
        ({"password": "short", "password2": "short"}, 400, "at least 8 characters"),
        ({"password2": "something-else"}, 400, "The two passwords differ"),
        ({"code": "board-2025"}, 403, "sign-up code is not right"),
    ],
)
def test_refused_sign_ups_say_why_and_keep_what_was_typed(open_app, fields, status, words):
    form = {
        "username": "dee",
        "password": "dee-password",
        "password2": "dee-password",
        "code": "board-2026",
        **fields,
    }
    refused = open_app.test_client().post("/signup", data=form, headers=HTML)
    assert refused.status_code == status
    body = refused.get_data(as_text=True)
    assert words in body
    assert f'value="{form["username"]}"' in body
    assert form["password"] not in body and 'value="board-2025"' not in body
    if status != 403:
        assert 'value="board-2026"' in body


def test_wrong_codes_are_throttled(open_app):
    client = open_app.test_client()
    wrong = {"username": "eve", "password": "eve-password", "code": "guess"}
    answers = [client.post("/signup", json=wrong).status_code for _ in range(21)]
    assert answers == [403] * 20 + [429]
    right = {**wrong, "code": "board-2026"}
    assert client.post("/signup", json=right).status_code == 429


def test_sign_up_escapes_what_it_echoes(open_app):
    refused = open_app.test_client().post(
        "/signup",
        data={"username": '<img src=x onerror=alert(1)>"', "password": "p", "code": "board-2026"},
        headers=HTML,
    )
    body = refused.get_data(as_text=True)
    assert "<img src=x" not in body
    assert "&lt;img src=x onerror=alert(1)&gt;&#34;" in body


# ---- cross-site requests and the cookie


@pytest.mark.parametrize("path", ["/login", "/signup", "/logout"])
def test_cross_site_posts_are_refused(open_app, path):
    client = open_app.test_client()
    refused = client.post(
        path,
        data={"username": "amy", "password": "amy-password", "code": "board-2026"},
        headers={"Origin": "https://evil.example"},
    )
    assert refused.status_code == 403
    assert refused.get_json()["error"]["type"] == "cross_site"
    fetched = client.post(
        path,
        data={"username": "amy", "password": "amy-password"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert fetched.status_code == 403


def test_the_session_cookie_is_signed_http_only_and_lax(app):
    signed_in = sign_in(app.test_client(), "amy", "amy-password")
    cookie = next(
        value
        for value in signed_in.headers.getlist("Set-Cookie")
        if value.startswith("chat_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # Flask's signed cookie: value.timestamp.signature, holding only a random session token.
    assert cookie.split(";")[0].count(".") >= 2


def test_no_account_yet_says_how_to_make_the_first_admin(make_app, tmp_path, caplog):
    url = f"sqlite:///{tmp_path}/empty.db"
    with caplog.at_level(logging.WARNING):
        make_app(accounts=True, database_url=url)
    assert "python chat_app.py users add NAME --admin" in caplog.text


# ---- API tokens


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_acts_as_its_user_on_the_api(app, accounts, url, fake):
    bob, amy = accounts.by_name("bob"), accounts.by_name("amy")
    records = Records(url)
    conversation = records.create_conversation(bob.id)
    token = accounts.create_token(bob.id, "script")
    client = app.test_client()
    fake.script(Reply("Hi bob"))
    asked = {**QUESTION, "conversation_id": conversation}
    answered = client.post("/api/chat", json=asked, headers=bearer(token))
    assert answered.status_code == 200, answered.get_data(as_text=True)
    assert [m["content"] for m in records.history(bob.id, conversation)] == ["Hi bob"]
    (listed,) = accounts.tokens(bob.id)
    assert listed.last_used_at is not None
    # amy's token does not reach bob's conversation: the same answer as an unknown id.
    amys = accounts.create_token(amy.id)
    assert client.post("/api/chat", json=asked, headers=bearer(amys)).status_code == 404

    assert (
        client.post("/api/chat", json=QUESTION, headers=bearer("cgpt_made-up")).status_code == 401
    )
    accounts.revoke_token(bob.id, listed.id)
    assert client.post("/api/chat", json=QUESTION, headers=bearer(token)).status_code == 401


def test_a_disabled_users_token_is_refused(app, accounts):
    token = accounts.create_token(accounts.by_name("bob").id)
    accounts.set_disabled("bob", True)
    refused = app.test_client().post("/api/chat", json=QUESTION, headers=bearer(token))
    assert refused.status_code == 401


def test_a_token_opens_the_api_only_not_the_page(app, accounts):
    token = accounts.create_token(accounts.by_name("bob").id)
    client = app.test_client()
    assert client.get("/", headers={**HTML, **bearer(token)}).status_code == 401
    assert client.post("/_dash-update-component", json={}, headers=bearer(token)).status_code == 401


@pytest.fixture
def gateway_app(make_app, url, accounts):
    return make_app(accounts=True, database_url=url, gateway_api_keys="gw-key").server


def test_the_gateway_takes_a_users_token_and_acts_as_them(
    make_app, url, accounts, fake, monkeypatch
):
    # Without GATEWAY_API_KEYS the gateway is there for users' own tokens.
    server = make_app(accounts=True, database_url=url).server
    seen = {}
    relay = api_gateway.call_with_retries

    def spy(call, retries):  # who the request acts as, when it reaches the model
        seen.update(user=current_user().username, identity=current_identity())
        return relay(call, retries)

    monkeypatch.setattr(api_gateway, "call_with_retries", spy)
    bob = accounts.by_name("bob")
    token = accounts.create_token(bob.id)
    fake.script(Reply("From the gateway"))
    body = {"model": "gpt-4o-mini", "messages": QUESTION["messages"]}
    client = server.test_client()
    answered = client.post("/v1/chat/completions", json=body, headers=bearer(token))
    assert answered.status_code == 200, answered.get_data(as_text=True)
    assert seen == {"user": "bob", "identity": bob.id}
    for wrong in ("cgpt_made-up", "gw-key"):
        refused = client.post("/v1/chat/completions", json=body, headers=bearer(wrong))
        assert refused.status_code == 401
        assert refused.get_json()["error"]["code"] == "invalid_api_key"


def test_the_gateways_own_keys_still_work(gateway_app, fake):
    fake.script(Reply("Hi"))
    body = {"model": "gpt-4o-mini", "messages": QUESTION["messages"]}
    answered = gateway_app.test_client().post(
        "/v1/chat/completions", json=body, headers=bearer("gw-key")
    )
    assert answered.status_code == 200


def stream_events(response) -> list:
    events = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            events.append(line[len("data: ") :])
    return events


def test_a_gateway_stream_finishes_when_its_token_is_revoked_meanwhile(app, accounts, fake):
    """Decided: a reply that started with a valid token finishes (it was allowed, and what it
    costs is counted to its user); the token is refused from its next request on."""
    bob = accounts.by_name("bob")
    token = accounts.create_token(bob.id)
    hold = threading.Event()
    fake.script(Reply("one two three four", chunk_size=4, stall_after=1, hold=hold))
    body = {"model": "gpt-4o-mini", "messages": QUESTION["messages"], "stream": True}
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        with client.stream("POST", "/v1/chat/completions", json=body, headers=bearer(token)) as r:
            assert r.status_code == 200
            lines = r.iter_lines()
            first = next(line for line in lines if line.startswith("data: ") and "one" in line)
            assert "one" in first
            (made,) = accounts.tokens(bob.id)
            assert accounts.revoke_token(bob.id, made.id)
            refused = client.post("/v1/chat/completions", json=body, headers=bearer(token))
            assert refused.status_code == 401
            hold.set()
            rest = [line[6:] for line in lines if line.startswith("data: ")]
        assert rest[-1] == "[DONE]", rest
        text = "".join(
            choice["delta"].get("content") or ""
            for event in rest[:-1]
            for choice in json.loads(event)["choices"]
        )
        assert text == "two three four"


def test_a_page_stream_finishes_when_the_session_ends_meanwhile(app, fake):
    """Decided: the reply being written when the session ends (signed out elsewhere, idle
    timeout) finishes and is kept; the next request gets the login."""
    hold = threading.Event()
    fake.script(Reply("first second", chunk_size=6, stall_after=1, hold=hold))
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        assert (
            client.post("/login", json={"username": "bob", "password": "bob-password"}).status_code
            == 200
        )
        with client.stream("POST", "/api/chat/stream", json=QUESTION) as r:
            assert r.status_code == 200
            lines = r.iter_lines()
            next(line for line in lines if "first" in line)
            assert client.post("/logout").status_code == 303
            hold.set()
            rest = "\n".join(lines)
        assert "second" in rest and '"done"' in rest
        assert client.post("/api/chat", json=QUESTION).status_code == 401


# ---- records stay their user's


def test_nobody_else_reaches_a_users_conversation(app, accounts, url):
    records = Records(url)
    amy = accounts.by_name("amy")
    cid = records.create_conversation(amy.id, title="amy's secret")
    records.add_message(amy.id, cid, {"role": "user", "content": "amy's question"})
    # A reply being written by a live process (this one), as the journal puts it on record.
    records.open_reply(amy.id, cid, "…", model=None, writer=writer_id())
    bob = app.test_client()
    sign_in(bob, "bob", "bob-password")
    running = bob.get(f"/api/chat/running?conversation_id={cid}")
    assert running.get_json() == {"streaming": False, "content": "", "model": None}
    amy_client = app.test_client()
    sign_in(amy_client, "amy", "amy-password")
    assert amy_client.get(f"/api/chat/running?conversation_id={cid}").get_json()["streaming"]
    # Going on in amy's conversation as bob is refused like an unknown id, and writes nothing.
    continued = bob.post("/api/chat", json={**QUESTION, "conversation_id": cid})
    assert continued.status_code == 404
    assert [m["content"] for m in records.history(amy.id, cid)] == ["amy's question", "…"]
    assert records.list_conversations(accounts.by_name("bob").id) == []


def test_a_browsers_earlier_conversations_are_adopted_once(app, accounts, url):
    records = Records(url)
    client = app.test_client()
    client.get("/login", headers=HTML)  # the browser gets its anonymous identity cookie
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    from itsdangerous import URLSafeSerializer

    browser = URLSafeSerializer("test-secret-not-for-production", salt="chat-identity").loads(
        cookie.value
    )
    cid = records.create_conversation(browser, title="from before accounts")
    sign_in(client, "bob", "bob-password")
    bob = accounts.by_name("bob")
    assert records.history(bob.id, cid) is not None
    assert records.history(browser, cid) is None
    # Once: a later sign-in in the same browser (another user) finds nothing left to take.
    client.post("/logout")
    sign_in(client, "amy", "amy-password")
    assert records.history(bob.id, cid) is not None


SIDEBAR_OUTPUTS = (
    "chat-history-store.data",
    "chat-conversation-store.data",
    "chat-notice.children",
    "chat-thread-redraw.data",
    "chat-streaming-store.data",
)


def open_in_sidebar(client, conversation_id: str):
    """The sidebar's "open this conversation" callback, as the page sends it."""
    deps = client.get("/_dash-dependencies").json()
    [dep] = [d for d in deps if any('"sidebar-item"' in i["id"] for i in d["inputs"])]
    item = {"index": conversation_id, "type": "sidebar-item"}
    body = {
        "output": dep["output"],
        "outputs": [
            {"id": name.split(".")[0], "property": name.split(".")[1]} for name in SIDEBAR_OUTPUTS
        ],
        "inputs": [
            [{"id": item, "property": "n_clicks", "value": 1}],
            {"id": "chat-open-request", "property": "data", "value": None},
        ],
        "state": [
            {"id": "chat-streaming-store", "property": "data", "value": None},
            {"id": "sidebar-local-records", "property": "data", "value": None},
        ],
        "changedPropIds": [json.dumps(item, separators=(",", ":"), sort_keys=True) + ".n_clicks"],
    }
    return client.post("/_dash-update-component", json=body)


def test_the_sidebar_opens_a_conversation_for_its_owner_only(upstream, accounts, url):
    """Under gunicorn (in one test process only the first app serves Dash's callback list)."""
    records = Records(url)
    amy = accounts.by_name("amy")
    cid = records.create_conversation(amy.id, title="amy's secret")
    records.add_message(amy.id, cid, {"role": "user", "content": "amy's question"})
    server = AppProcess(
        {
            "OPENAI_API_KEY": TEST_KEY,
            "OPENAI_BASE_URL": upstream.base_url,
            "ACCOUNTS": "true",
            "DATABASE_URL": url,
        }
    )
    try:
        with (
            httpx.Client(base_url=server.url, timeout=30) as amy_client,
            httpx.Client(base_url=server.url, timeout=30) as bob_client,
        ):
            sign_in(amy_client, "amy", "amy-password")
            sign_in(bob_client, "bob", "bob-password")
            opened = open_in_sidebar(amy_client, cid)
            assert opened.status_code == 200
            assert "amy's question" in opened.text
            guessed = open_in_sidebar(bob_client, cid)
            assert guessed.status_code == 204  # as for an id that does not exist
            assert "amy" not in guessed.text
    finally:
        server.stop()


@pytest.mark.parametrize(
    "name",
    ["' OR '1'='1", "amy'--", 'amy"; DROP TABLE users; --', "%", "_", "amy\x00", "<b>amy</b>"],
)
def test_names_with_sql_or_markup_are_only_names(app, accounts, name):
    client = app.test_client()
    refused = client.post("/login", json={"username": name, "password": "amy-password"})
    assert refused.status_code == 401
    form = client.post("/login", data={"username": name, "password": "x"}, headers=HTML)
    assert form.status_code == 401
    assert "<b>amy</b>" not in form.get_data(as_text=True)
    assert [user.username for user in accounts.list_users()] == ["amy", "bob"]


def test_a_cross_site_page_cannot_make_a_token_for_a_signed_in_user(app, accounts):
    client = app.test_client()
    sign_in(client, "amy", "amy-password")
    forged = {
        "output": "..api-token-list.children...api-token-created.children...api-token-name.value..",
        "inputs": [{"id": "api-token-create", "property": "nClicks", "value": 1}],
        "changedPropIds": ["api-token-create.nClicks"],
    }
    refused = client.post(
        "/_dash-update-component", json=forged, headers={"Origin": "https://evil.example"}
    )
    assert refused.status_code == 403
    assert accounts.tokens(accounts.by_name("amy").id) == []


def test_a_token_streams_as_its_user(app, accounts, url, fake):
    bob = accounts.by_name("bob")
    records = Records(url)
    conversation = records.create_conversation(bob.id)
    token = accounts.create_token(bob.id)
    fake.script(Reply("Streamed to bob"))
    streamed = app.test_client().post(
        "/api/chat/stream",
        json={**QUESTION, "conversation_id": conversation},
        headers=bearer(token),
    )
    assert streamed.status_code == 200
    assert '"done": true' in streamed.get_data(as_text=True).replace('"done":true', '"done": true')
    assert [m["content"] for m in records.history(bob.id, conversation)] == ["Streamed to bob"]
