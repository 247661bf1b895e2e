"""ACCOUNTS=true: sign-in by name and password, records per user, disabled users refused."""

from __future__ import annotations

import pytest

from api.identity import current_identity, current_user
from services.accounts import Accounts
from services.records.repository import Records

HTML = {"Accept": "text/html"}


@pytest.fixture
def accounts_app(make_app, tmp_path):
    url = f"sqlite:///{tmp_path}/accounts.db"
    records = Records(url)
    records.upgrade()
    accounts = Accounts(records)
    accounts.add_user("amy", "amy-password", admin=True)
    accounts.add_user("bob", "bob-password")
    app = make_app(accounts=True, database_url=url)
    return app.server, accounts, records


def sign_in(client, name: str, password: str):
    return client.post("/login", json={"username": name, "password": password})


def test_the_page_asks_for_a_name_and_a_password(accounts_app):
    server, _, _ = accounts_app
    response = server.test_client().get("/", headers=HTML)
    assert response.status_code == 401
    body = response.get_data(as_text=True)
    for element in ('id="login-username"', 'id="login-password"', 'id="login-submit"'):
        assert element in body


def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(accounts_app):
    server, _, _ = accounts_app
    client = server.test_client()
    wrong = sign_in(client, "amy", "not-her-password")
    unknown = sign_in(client, "nobody", "not-her-password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()
    form = client.post("/login", data={"username": "nobody", "password": "x"}, headers=HTML)
    other = client.post("/login", data={"username": "amy", "password": "x"}, headers=HTML)
    # The page keeps the name typed (never the password); otherwise the two are the same.
    assert 'value="nobody"' in form.get_data(as_text=True)
    same = form.get_data(as_text=True).replace('value="nobody"', 'value="amy"')
    assert same == other.get_data(as_text=True)


def test_signed_in_users_reach_the_page_and_own_their_records(accounts_app):
    server, _, records = accounts_app
    amy, bob = server.test_client(), server.test_client()
    assert sign_in(amy, "AMY", "amy-password").get_json()["signed_in"] is True
    assert sign_in(bob, "bob", "bob-password").status_code == 200
    assert amy.get("/", headers=HTML).status_code == 200
    users = {user.username: user.id for user in Accounts(records).list_users()}
    # Each request acts as its user: the owner of every records call is the user's id.
    for client, name in ((amy, "amy"), (bob, "bob")):
        with client:
            client.get("/_dash-layout")
            assert current_identity() == users[name]
            assert current_user().username == name
    cid = records.create_conversation(users["amy"])
    records.add_message(users["amy"], cid, {"role": "user", "content": "amy's question"})
    assert records.history(users["bob"], cid) is None


def test_a_disabled_user_is_refused_at_the_next_request(accounts_app):
    server, accounts, _ = accounts_app
    client = server.test_client()
    sign_in(client, "bob", "bob-password")
    assert client.get("/", headers=HTML).status_code == 200
    accounts.set_disabled("bob", True)
    assert client.get("/", headers=HTML).status_code == 401
    assert client.post("/api/chat", json={"messages": []}).status_code == 401
    accounts.set_disabled("bob", False)
    assert client.get("/", headers=HTML).status_code == 200  # the session itself still lives


def test_logout_ends_the_session(accounts_app):
    server, _, _ = accounts_app
    client = server.test_client()
    sign_in(client, "bob", "bob-password")
    assert client.post("/logout").status_code == 303
    assert client.get("/", headers=HTML).status_code == 401


def test_accounts_need_records(make_app):
    with pytest.raises(SystemExit, match="RECORDS_ENABLED"):
        make_app(accounts=True, records_enabled=False)
