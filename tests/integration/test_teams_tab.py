"""TEAMS_TAB=true over HTTP: who may frame the page, the cookies a framed page needs, and the
cross-site refusal that still keeps a Teams (or any parent) page from posting into the app."""

from __future__ import annotations

import pytest

from api.identity import COOKIE
from api.security import TEAMS_FRAME_ANCESTORS
from services.accounts import Accounts
from services.records.repository import Records

HTML = {"Accept": "text/html"}
EXTRA = "https://intranet.example.org"
TEAMS = "https://teams.microsoft.com"


def directives(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    parts = (p.strip().split(None, 1) for p in policy.split(";") if p.strip())
    return {p[0]: p[1] if len(p) > 1 else "" for p in parts}


def cookies(response, name: str) -> str:
    return next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{name}="))


@pytest.fixture
def teams_app(make_app):
    return make_app(teams_tab=True, frame_ancestors=EXTRA).server


@pytest.fixture
def accounts_url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path}/accounts.db"
    Records(url).upgrade()
    Accounts(Records(url)).add_user("amy", "amy-password")
    return url


def test_teams_and_microsoft_365_hosts_may_frame_the_page_plus_frame_ancestors(teams_app):
    sources = directives(teams_app.test_client().get("/", headers=HTML))["frame-ancestors"]
    sources = sources.split()
    assert sources[0] == "'self'"
    for host in (TEAMS, "https://*.teams.microsoft.com", "https://*.cloud.microsoft"):
        assert host in sources
    assert "https://*.office.com" in sources and "https://outlook.office.com" in sources
    assert EXTRA in sources
    assert set(TEAMS_FRAME_ANCESTORS) <= set(sources)


def test_without_teams_tab_only_frame_ancestors_may_frame_it(make_app):
    response = make_app().server.test_client().get("/", headers=HTML)
    assert directives(response)["frame-ancestors"] == "'self'"
    assert "SameSite=Lax" in cookies(response, COOKIE)
    assert "Partitioned" not in cookies(response, COOKIE)


def test_teams_tab_replaces_a_none_it_cannot_keep(make_app):
    # 'none' beside hosts is ignored by browsers; TEAMS_TAB=true means "Teams may frame it".
    client = make_app(teams_tab=True, frame_ancestors="'none'").server.test_client()
    sources = directives(client.get("/", headers=HTML))["frame-ancestors"].split()
    assert "'none'" not in sources and sources[0] == "'self'" and TEAMS in sources


def test_the_identity_cookie_comes_back_in_a_third_party_frame(teams_app):
    response = teams_app.test_client().get("/", headers=HTML)
    cookie = cookies(response, COOKIE)
    for attribute in ("SameSite=None", "Secure", "Partitioned", "HttpOnly"):
        assert attribute in cookie
    # No header may forbid the frame: X-Frame-Options can only say DENY/SAMEORIGIN.
    assert "X-Frame-Options" not in response.headers


def test_password_login_inside_the_frame(make_app, fake):
    app = make_app(teams_tab=True, access_password="tab-pass").server
    client = app.test_client()
    screen = client.get("/", headers=HTML)
    # The login screen is framable too (same CSP) and posts to the app itself, in the frame.
    assert screen.status_code == 401
    assert TEAMS in directives(screen)["frame-ancestors"]
    body = screen.get_data(as_text=True)
    assert 'action="/login"' in body and "_top" not in body and "target=" not in body
    signed_in = client.post(
        "/login",
        data={"password": "tab-pass", "next": "/"},
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["Location"] == "/"  # relative: stays in the frame's origin
    session = cookies(signed_in, "chat_session")
    for attribute in ("SameSite=None", "Secure", "Partitioned", "HttpOnly"):
        assert attribute in session
    asked = client.post(
        "/api/chat",
        json={"messages": [{"role": "user", "content": "hi"}]},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert asked.status_code == 200


def test_accounts_login_inside_the_frame(make_app, accounts_url):
    app = make_app(teams_tab=True, accounts=True, database_url=accounts_url).server
    client = app.test_client()
    signed_in = client.post(
        "/login",
        data={"username": "amy", "password": "amy-password", "next": "/"},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/"
    session = cookies(signed_in, "chat_session")
    assert "SameSite=None" in session and "Secure" in session and "Partitioned" in session
    logged_out = client.post("/logout", headers={"Sec-Fetch-Site": "same-origin"})
    assert logged_out.status_code == 303 and logged_out.headers["Location"] == "/login"
    # Clearing the session deletes its cookie with the same attributes (else it stays).
    assert "Partitioned" in cookies(logged_out, "chat_session")


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site", "Origin": TEAMS},
        {"Origin": TEAMS},
        {"Sec-Fetch-Site": "cross-site", "Origin": EXTRA},
    ],
)
def test_the_parent_page_cannot_post_into_the_app(make_app, headers, fake):
    # Framing is allowed; posting is not: a Teams host (or FRAME_ANCESTORS' one) is another
    # site, and the session cookie it would send along is SameSite=None now.
    app = make_app(teams_tab=True, frame_ancestors=EXTRA, access_password="tab-pass").server
    client = app.test_client()
    forged_login = client.post("/login", data={"password": "tab-pass"}, headers=headers)
    assert forged_login.status_code == 403
    assert forged_login.get_json()["error"]["type"] == "cross_site"
    client.post("/login", data={"password": "tab-pass"}, headers={"Sec-Fetch-Site": "same-origin"})
    forged_chat = client.post(
        "/api/chat", json={"messages": [{"role": "user", "content": "hi"}]}, headers=headers
    )
    assert forged_chat.status_code == 403
    assert fake.requests == []


def test_teamsjs_is_linked_only_with_teams_tab(make_app, teams_app):
    client = teams_app.test_client()
    page = client.get("/", headers=HTML).get_data(as_text=True)
    assert "/assets/vendor/teams-js.min.js?m=" in page
    assert "/assets/teams/tab.js?m=" in page
    # Before Dash's scripts: the host hears from the tab while the page still starts.
    assert page.index("teams/tab.js") < page.index("dash_renderer")
    script = client.get("/assets/teams/tab.js")
    assert script.status_code == 200 and b"app.initialize" in script.data
    assert b"microsoftTeams" in client.get("/assets/vendor/teams-js.min.js").data

    # Nobody else loads it.
    plain = make_app().server.test_client().get("/", headers=HTML).get_data(as_text=True)
    assert "teams-js" not in plain and "teams/tab.js" not in plain


def test_teamsjs_is_on_the_sign_in_page_too(make_app):
    server = make_app(teams_tab=True, access_password="tab-pass").server
    login = server.test_client().get("/login", headers=HTML).get_data(as_text=True)
    assert "/assets/vendor/teams-js.min.js?m=" in login and "/assets/teams/tab.js?m=" in login
    # Loaded before any sign-in; the rest of the assets still need one.
    anonymous = server.test_client()
    assert anonymous.get("/assets/teams/tab.js").status_code == 200
    assert anonymous.get("/assets/vendor/teams-js.min.js").status_code == 200
    assert anonymous.get("/assets/chat.js").status_code == 401
    plain = make_app(access_password="tab-pass").server.test_client().get("/login")
    assert "teams-js" not in plain.get_data(as_text=True)
