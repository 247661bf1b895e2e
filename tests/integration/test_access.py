"""ACCESS_PASSWORD: only the login screen and /healthz answer without a session."""

from __future__ import annotations

import io
import json
import re
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.auth import _safe_next
from components.theme import boot_tag
from config import Settings

PASSWORDS = "first-pass,second pass"
QUESTION = {"messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture
def locked(make_app):
    """An app behind two passwords, and a gateway key (the gateway has its own tokens)."""
    return make_app(access_password=PASSWORDS, gateway_api_keys="gw-key").server


def login(client, password: str, next_path: str = "/"):
    return client.post("/login", data={"password": password, "next": next_path})


# Every kind of route the app has, as (method, path, extra request arguments).
GUARDED = [
    ("GET", "/_dash-layout", {}),
    ("GET", "/_dash-dependencies", {}),
    ("POST", "/_dash-update-component", {"json": {"output": "x.children", "inputs": []}}),
    ("GET", "/assets/chat.js", {}),
    ("GET", "/_dash-component-suites/dash/deps/react@18.3.1.min.js", {}),
    ("POST", "/api/chat", {"json": QUESTION}),
    ("POST", "/api/chat/stream", {"json": QUESTION}),
    ("GET", "/api/providers/check", {}),
    ("GET", "/api/openapi.json", {}),
    ("POST", "/api/attachments", {"data": {"file": (io.BytesIO(b"\x89PNG"), "a.png")}}),
    ("GET", f"/api/attachments/{'a' * 32}", {}),
    ("GET", f"/api/attachments/{'a' * 32}/thumbnail", {}),
    ("DELETE", f"/api/attachments/{'a' * 32}", {}),
    ("GET", "/no/such/page", {}),
    ("POST", "/logout", {}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), GUARDED)
def test_every_route_needs_a_session(locked, fake, method, path, kwargs):
    response = locked.test_client().open(path, method=method, **kwargs)
    assert response.status_code == 401, (path, response.status_code)
    assert response.get_json()["error"]["type"] == "unauthorized"
    assert fake.requests == []  # nothing reached the model


def test_a_page_visit_gets_the_login_screen_as_401(locked):
    response = locked.test_client().get("/", headers={"Accept": "text/html"})
    assert response.status_code == 401
    body = response.get_data(as_text=True)
    assert 'id="login-form"' in body and 'type="password"' in body
    # The login screen runs no script but the theme's (light or dark, components/theme.py).
    assert body.replace(boot_tag(), "").count("<script") == 0
    assert "_dash-config" not in body  # and is not the app
    # A phone's keyboard shrinks the page rather than covering the form's button.
    assert "interactive-widget=resizes-content" in body


def test_only_login_and_healthz_answer_without_a_session(locked):
    client = locked.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/login").status_code == 200


def test_right_password_opens_everything_and_logout_closes_it(locked, fake):
    client = locked.test_client()
    response = login(client, "second pass", "/?from=login")
    assert response.status_code == 303
    assert response.headers["Location"] == "/?from=login"
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if "chat_session=" in c)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "second" not in cookie  # the password is not in the cookie, even encoded
    assert client.get("/_dash-layout").status_code == 200
    assert client.post("/api/chat", json=QUESTION).status_code == 200
    assert len(fake.requests) == 1

    response = client.post("/logout")
    assert response.status_code == 303 and response.headers["Location"].endswith("/login")
    assert client.get("/_dash-layout").status_code == 401


def test_wrong_password_is_refused_with_the_form_again(locked):
    client = locked.test_client()
    response = login(client, "first-pas")
    assert response.status_code == 401
    assert "Wrong password" in response.get_data(as_text=True)
    assert not any("chat_session=" in c for c in response.headers.getlist("Set-Cookie"))
    assert client.get("/_dash-layout").status_code == 401


def test_login_screen_speaks_chinese(locked):
    response = locked.test_client().get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "请输入访问密码" in response.get_data(as_text=True)


def test_json_login_for_scripts(locked):
    client = locked.test_client()
    assert client.post("/login", json={"password": "nope"}).status_code == 401
    response = client.post("/login", json={"password": "first-pass"})
    assert response.status_code == 200 and response.get_json() == {"signed_in": True}
    assert client.post("/api/chat", json=QUESTION).status_code == 200


def test_removing_a_password_signs_out_its_sessions(fake, make_app):
    first = make_app(access_password=PASSWORDS).server.test_client()
    assert login(first, "first-pass").status_code == 303
    cookie = first.get_cookie("chat_session").value
    # The same deployment restarted without that password (same SECRET_KEY).
    later = make_app(access_password="second pass").server.test_client()
    later.set_cookie("chat_session", cookie)
    assert later.get("/_dash-layout").status_code == 401


def test_a_forged_session_cookie_is_refused(locked, make_app):
    # Signed with another deployment's key: it must not open this one.
    other = make_app(access_password=PASSWORDS).server
    other.secret_key = "some-other-secret"
    client = other.test_client()
    assert login(client, "first-pass").status_code == 303
    forged = client.get_cookie("chat_session").value
    victim = locked.test_client()
    victim.set_cookie("chat_session", forged)
    assert victim.get("/_dash-layout").status_code == 401


def test_gateway_keeps_its_own_tokens(locked):
    client = locked.test_client()
    assert client.get("/v1/models", headers={"Authorization": "Bearer gw-key"}).status_code == 200
    response = client.get("/v1/models", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_api_key"


def test_without_a_password_nothing_is_asked(make_app):
    client = make_app().server.test_client()
    assert client.get("/_dash-layout").status_code == 200
    assert client.get("/login").status_code == 303  # straight to the app


def test_auth_secret_key_is_an_alias(monkeypatch):
    monkeypatch.setenv("AUTH_SECRET_KEY", "from-chatgpt-web")
    assert Settings(_env_file=None).access_passwords == ["from-chatgpt-web"]


def test_the_page_offers_logout_only_behind_a_password(locked, make_app):
    client = locked.test_client()
    login(client, "first-pass")
    assert "header-logout-button" in client.get("/_dash-layout").get_data(as_text=True)
    open_app = make_app().server.test_client()
    assert "header-logout-button" not in open_app.get("/_dash-layout").get_data(as_text=True)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/", "/"),
        ("/?a=1", "/?a=1"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_login_never_redirects_off_site(target, expected):
    assert _safe_next(target) == expected


def test_the_login_form_escapes_what_it_echoes(locked):
    response = locked.test_client().get(
        '/login?next=/"><script>alert(1)</script>', headers={"Accept": "text/html"}
    )
    body = response.get_data(as_text=True)
    assert "<script>alert(1)" not in body
    assert re.search(r'name="next" value="[^"<>]*"', body)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.dictionaries(st.text(max_size=10), st.text(max_size=30), max_size=4).map(
            lambda d: urlencode(d).encode()
        ),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner),
            max_leaves=8,
        ).map(lambda v: json.dumps({"password": v}).encode()),
    ),
    content_type=st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "text/plain",
            "",
        ]
    ),
)
def test_login_never_fails_with_a_server_error(fuzz_login_client, body, content_type):
    response = fuzz_login_client.post("/login", data=body, headers={"Content-Type": content_type})
    assert response.status_code in (303, 400, 401, 429), response.status_code


@pytest.fixture(scope="module")
def fuzz_login_client(upstream):
    from chat_app import create_app
    from tests.conftest import settings_for

    # Wrong passwords soon get 429 (the login limit): also a proper answer, not a crash.
    return create_app(settings_for(upstream, access_password="p")).server.test_client()
