"""The admin console over real HTTP (gunicorn, ACCOUNTS=true, seeded SQLite): only an admin
gets the page, its callbacks and its CSV; a signed-in user who is not an admin gets a 403 from
each of them, not data."""

from __future__ import annotations

import csv
import io
import json
import re

import httpx2 as httpx
import pytest
from sqlalchemy import insert

from services.records.models import UsageEvent
from services.records.repository import Records
from tests.admin_seed import PASSWORD, seed
from tests.e2e.conftest import AppProcess

HTML = "<img src=x onerror=alert(1)>"
INJECTION = "%' OR 1=1 --"


@pytest.fixture(scope="module")
def console(upstream, tmp_path_factory):
    from tests.conftest import TEST_KEY

    url = f"sqlite:///{tmp_path_factory.mktemp('admin')}/chat.db"
    records = Records(url)
    records.upgrade()
    seeded = seed(records._writer, users=12, messages=200)
    cid = records.create_conversation(seeded["users"][3])
    records.add_message(seeded["users"][3], cid, {"role": "user", "content": HTML})
    records.rename(seeded["users"][3], cid, HTML)
    # One model priced in CNY: the console shows yuan and dollars apart, never summed.
    with records._writer.begin() as connection:
        connection.execute(
            insert(UsageEvent).values(
                owner=seeded["users"][4],
                source="page",
                model="deepseek-chat",
                prompt_tokens=10,
                completion_tokens=10,
                cost=1000.0,
                currency="CNY",
            )
        )
    records.close()
    server = AppProcess(
        {
            "OPENAI_API_KEY": TEST_KEY,
            "OPENAI_BASE_URL": upstream.base_url,
            "ACCOUNTS": "true",
            "DATABASE_URL": url,
        }
    )
    yield server, url
    server.stop()


def signed_in(base: str, name: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    assert client.post("/login", json={"username": name, "password": PASSWORD}).status_code == 200
    return client


@pytest.fixture(scope="module")
def admin(console):
    client = signed_in(console[0].url, "admin")
    yield client
    client.close()


@pytest.fixture(scope="module")
def student(console):
    client = signed_in(console[0].url, "student001")
    yield client
    client.close()


@pytest.fixture(scope="module")
def console_callbacks(admin) -> list[dict]:
    deps = admin.get("/_dash-dependencies").json()
    # The server's callbacks (a clientside one runs in the browser only).
    found = [d for d in deps if "admin-" in d["output"] and not d.get("clientside_function")]
    assert len(found) >= 12
    return found


def body_for(dep: dict, values: dict | None = None) -> dict:
    """A well-formed request for the callback `dep`: every input and state None unless
    `values` ("id.property": value) says otherwise; the first input is the trigger."""
    values = values or {}

    def entry(item):
        key = f"{item['id']}.{item['property']}"
        return {"id": item["id"], "property": item["property"], "value": values.get(key)}

    outputs = [part for part in dep["output"].strip(".").split("...")]
    shaped = [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]} for o in outputs]
    first = dep["inputs"][0]
    return {
        "output": dep["output"],
        "outputs": shaped if dep["output"].startswith("..") else shaped[0],
        "inputs": [entry(item) for item in dep["inputs"]],
        "state": [entry(item) for item in dep.get("state", [])],
        "changedPropIds": [f"{first['id']}.{first['property']}"],
    }


def dependency(callbacks: list[dict], output: str) -> dict:
    return next(dep for dep in callbacks if output in dep["output"])


def test_only_an_admin_gets_the_page(console, admin, student):
    server, _ = console
    accept = {"Accept": "text/html"}
    assert admin.get("/admin", headers=accept).status_code == 200
    refused = student.get("/admin", headers=accept)
    assert refused.status_code == 403
    assert "403" in refused.text and "admin-users-table" not in refused.text
    # Not signed in: the login page (401), never the console.
    assert httpx.get(f"{server.url}/admin", headers=accept).status_code == 401
    # The layout: the console for the admin, the 403 one for anyone else asking for it.
    referer = {"Referer": f"{server.url}/admin"}
    assert "admin-users-table" in admin.get("/_dash-layout", headers=referer).text
    other = student.get("/_dash-layout", headers=referer).text
    assert "admin-users-table" not in other and "admin-forbidden" in other
    assert "chat-input" in student.get("/_dash-layout").text
    # The chat page links to the console for admins only.
    assert "header-console-link" in admin.get("/_dash-layout").text
    assert "header-console-link" not in student.get("/_dash-layout").text


def test_the_console_page_loads_what_it_draws_with_and_no_more(console, admin, student):
    """/admin asks for its layout at once and runs Plotly and the table's parts before it
    comes; it leaves out the chat's scripts. The chat page is as it was, for everyone."""
    accept = {"Accept": "text/html"}
    page = admin.get("/admin", headers=accept).text
    assert '<link rel="preload" href="/_dash-layout" as="fetch" crossorigin="anonymous">' in page
    scripts = re.findall(r'<script src="([^"]+)"', page)
    assert any("/plotly/package_data/plotly.v" in src for src in scripts)
    assert any("/async-antd_table.v" in src for src in scripts)
    assert not [src for src in scripts if "chat.js" in src or "feffery_markdown" in src]
    assert '<link rel="stylesheet" href="/assets/console/admin.css?m=' in page
    # Plotly runs before the renderer, so dcc.Graph finds window.Plotly and loads none.
    plotly = next(i for i, src in enumerate(scripts) if "plotly.v" in src)
    renderer = next(i for i, src in enumerate(scripts) if "dash_renderer" in src)
    assert plotly < renderer
    for src in scripts:  # each is served (a wrong name would be a 404 in the page)
        assert admin.get(src).status_code == 200, src
    for client in (admin, student):
        chat = client.get("/", headers=accept).text
        assert "chat.js" in chat and "feffery_markdown" in chat
        assert "plotly.v" not in chat and 'rel="preload" href="/_dash-layout"' not in chat
        assert "console/admin.css" not in chat


def test_every_console_callback_refuses_a_user_who_is_not_an_admin(
    console_callbacks, student, admin
):
    for dep in console_callbacks:
        body = body_for(dep, {"admin-lang-store.data": "en"})
        refused = student.post("/_dash-update-component", json=body)
        assert refused.status_code == 403, (dep["output"], refused.text)
        assert "admin" not in refused.text.replace("admin-", "")  # no data, just the refusal
    users = body_for(
        dependency(console_callbacks, "admin-users-table.data"), {"admin-lang-store.data": "en"}
    )
    served = admin.post("/_dash-update-component", json=users)
    assert served.status_code == 200
    rows = served.json()["response"]["admin-users-table"]["data"]
    assert rows[0]["username"] == "admin" and len(rows) == 10


def test_conversation_search_with_sql_and_html_as_admin(console_callbacks, admin):
    dep = dependency(console_callbacks, "admin-conversations-table.data")

    def search(text: str) -> list[dict]:
        body = body_for(
            dep, {"admin-lang-store.data": "en", "admin-conversations-search.value": text}
        )
        body["changedPropIds"] = ["admin-conversations-search.value"]
        response = admin.post("/_dash-update-component", json=body)
        assert response.status_code == 200, response.text
        return response.json()["response"]["admin-conversations-table"]["data"]

    assert search(INJECTION) == []
    [found] = search(HTML)
    assert found["title"] == HTML  # as data, for the table to show as text
    assert len(search("")) == 10


def test_cost_is_shown_per_currency_and_drawn_one_at_a_time(console, console_callbacks, admin):
    layout = admin.get("/_dash-layout", headers={"Referer": f"{console[0].url}/admin"}).json()
    shown = json.dumps(layout, ensure_ascii=False)
    found = re.findall(r'"className": "admin-total-cost", "value": "([^"]*)"', shown)
    assert len(found) == 3  # today, this week, this month
    # The yuan first (the most spent), the seeded dollars beside them when the period has any.
    assert all(re.fullmatch(r"¥1,000\.00( · \$[\d.,]+)?", text) for text in found), found

    dep = dependency(console_callbacks, "admin-usage-graph.figure")

    def draw(metric: str, currency=None) -> dict:
        body = body_for(
            dep,
            {
                "admin-usage-metric.value": metric,
                "admin-usage-split.value": "model",
                "admin-usage-currency.value": currency,
                "admin-lang-store.data": "en",
            },
        )
        response = admin.post("/_dash-update-component", json=body)
        assert response.status_code == 200, response.text
        return response.json()["response"]

    drawn = draw("cost")
    # The currency spent most is drawn first; the picker offers both.
    assert drawn["admin-usage-currency"]["value"] == "CNY"
    options = drawn["admin-usage-currency"]["options"]
    assert [option["value"] for option in options] == ["CNY", "USD"]
    assert drawn["admin-usage-currency-box"]["style"]["display"] != "none"
    figure = drawn["admin-usage-graph"]["figure"]
    assert figure["layout"]["title"]["text"] == "Cost in CNY per day, by model"
    assert [bar["name"] for bar in figure["data"]] == ["deepseek-chat"]
    assert sum(figure["data"][0]["y"]) == 1000

    dollars = draw("cost", "USD")["admin-usage-graph"]["figure"]
    assert dollars["layout"]["yaxis"]["tickprefix"] == "$"
    assert "deepseek-chat" not in {bar["name"] for bar in dollars["data"]}
    assert sum(sum(bar["y"]) for bar in dollars["data"]) < 1000

    tokens = draw("tokens", "USD")
    assert tokens["admin-usage-currency-box"]["style"] == {"display": "none"}
    assert "value" not in tokens.get("admin-usage-currency", {})  # kept for the way back


def test_csv_downloads_for_the_admin_only(console, admin, student):
    users = admin.get("/admin/csv/users")
    assert users.status_code == 200
    assert users.headers["content-type"].startswith("text/csv")
    assert "attachment" in users.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(users.text)))
    assert rows[0][:2] == ["key", "username"] and len(rows) == 13
    found = admin.get("/admin/csv/conversations", params={"text": HTML})
    assert [row[3] for row in csv.reader(io.StringIO(found.text))][1:] == [HTML]
    assert admin.get("/admin/csv/passwords").status_code == 404
    assert admin.get("/admin/csv/conversations", params={"start": "soon"}).status_code == 400
    for name in ("users", "conversations", "feedback", "audit"):
        refused = student.get(f"/admin/csv/{name}")
        assert refused.status_code == 403 and "student" not in refused.text
    assert httpx.get(f"{console[0].url}/admin/csv/users").status_code == 401
    log = json.dumps(admin.get("/admin/csv/audit").text)
    assert "csv.download" in log


def test_an_admin_exports_a_conversation_as_markdown(console_callbacks, admin):
    rows = dependency(console_callbacks, "admin-conversations-table.data")
    listed = admin.post(
        "/_dash-update-component",
        json={
            **body_for(
                rows, {"admin-lang-store.data": "en", "admin-conversations-search.value": HTML}
            ),
            "changedPropIds": ["admin-conversations-search.value"],
        },
    ).json()["response"]["admin-conversations-table"]["data"]
    [found] = listed
    export = dependency(console_callbacks, "admin-download.data")
    body = body_for(
        export,
        {
            "admin-conversation-export-button.nClicks": 1,
            "admin-conversations-table.selectedRowKeys": [found["key"]],
            "admin-lang-store.data": "en",
        },
    )
    response = admin.post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.text
    download = response.json()["response"]["admin-download"]["data"]
    assert download["filename"].endswith(".md")
    assert "<!-- chat-message role=user -->" in download["content"]
    assert HTML in download["content"]  # a file of text: the reader's viewer decides
    audit = admin.get("/admin/csv/audit").text
    assert "conversation.export" in audit and found["key"] in audit


ODD_VALUES = [INJECTION, HTML, ["x"], [{"key": 1}], {"current": "x", "pageSize": []}, 12345, True]


def test_odd_values_in_the_console_callbacks_never_fail_the_server(
    console, console_callbacks, admin
):
    for dep in console_callbacks:
        for value in ODD_VALUES:
            items = [*dep["inputs"], *dep.get("state", [])]
            body = body_for(dep, {f"{i['id']}.{i['property']}": value for i in items})
            response = admin.post("/_dash-update-component", json=body)
            assert response.status_code in (200, 204, 400), (dep["output"], value, response.text)
    assert "Traceback" not in console[0].log()
    # Nothing was made of them: the header and the 12 seeded users.
    assert admin.get("/admin/csv/users").text.count("\n") == 13


def test_with_accounts_off_the_console_is_refused(make_app):
    client = make_app().server.test_client()
    page = client.get("/admin", headers={"Accept": "text/html"})
    assert page.status_code == 403
    assert client.get("/admin/csv/users").status_code == 403
    layout = client.get("/_dash-layout", headers={"Referer": "http://localhost/admin"})
    assert "admin-forbidden" in layout.get_data(as_text=True)
