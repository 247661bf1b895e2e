"""Input of the wrong shape gets a 400 with a plain message, never a 500 or a traceback in the
log: Dash's callback endpoint (the sidebar's pattern ids above all) and the JSON API, over real
HTTP against the app under gunicorn with records on."""

from __future__ import annotations

import copy
import json

import httpx2 as httpx
import pytest

from tests.e2e.conftest import AppProcess

CONVERSATION = "0123456789abcdef0123456789abcdef"
GATEWAY_KEY = "gw-bad-input-key-123"
SIDEBAR_OUTPUTS = (
    "chat-history-store.data",
    "chat-conversation-store.data",
    "chat-notice.children",
    "chat-thread-redraw.data",
    "chat-streaming-store.data",
)


@pytest.fixture(scope="module")
def app(upstream):
    from tests.conftest import TEST_KEY

    env = {"OPENAI_API_KEY": TEST_KEY, "OPENAI_BASE_URL": upstream.base_url}
    server = AppProcess({**env, "GATEWAY_API_KEYS": GATEWAY_KEY})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def open_conversation(app) -> dict:
    """A well-formed request for the sidebar's "open this conversation" callback."""
    deps = httpx.get(f"{app.url}/_dash-dependencies").json()
    [dep] = [d for d in deps if any('"sidebar-item"' in i["id"] for i in d["inputs"])]
    item = {"index": CONVERSATION, "type": "sidebar-item"}
    return {
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


def with_index(body: dict, index) -> dict:
    changed = copy.deepcopy(body)
    item = {"index": index, "type": "sidebar-item"}
    changed["inputs"][0][0]["id"] = item
    changed["changedPropIds"] = [
        json.dumps(item, separators=(",", ":"), sort_keys=True) + ".n_clicks"
    ]
    return changed


def malformed_callbacks(good: dict) -> list:
    unknown = {**good, "output": "no-such.output"}
    missing_state = {**good, "state": []}
    local_list = copy.deepcopy(good)
    local_list["state"][1]["value"] = [CONVERSATION]
    local_garbage = copy.deepcopy(good)
    local_garbage["state"][1]["value"] = {CONVERSATION: {"history": "not a list"}}
    foreign_trigger = {**good, "changedPropIds": ["chat-send-button.nClicks"]}
    opened = []
    for value in (
        {"id": ["x"], "at": 1},
        {"id": "x' OR 1=1 --"},
        {"at": 1},
        {"id": CONVERSATION, "at": "soon"},
    ):
        asked = copy.deepcopy(good)
        asked["inputs"][1]["value"] = value
        asked["changedPropIds"] = ["chat-open-request.data"]
        opened.append(asked)
    return [
        [],
        None,
        "text",
        17,
        {},
        {"output": []},
        unknown,
        missing_state,
        with_index(good, [CONVERSATION]),
        with_index(good, {"$ne": 1}),
        with_index(good, 42),
        with_index(good, "x' OR 1=1 --"),
        {**good, "inputs": [{"id": good["inputs"][0][0]["id"], "property": "n_clicks"}]},
        local_list,
        local_garbage,
        foreign_trigger,
        *opened,
    ]


API_BODIES = [b"[]", b"null", b'"text"', b"17", b"{", b'{"messages": {"role": "user"}}']


def test_malformed_requests_get_a_plain_400_and_no_traceback(app, open_conversation, fake):
    with httpx.Client(base_url=app.url, timeout=30) as client:
        # The well-formed request is served (204: no such conversation, nothing to update).
        served = client.post("/_dash-update-component", json=open_conversation)
        assert served.status_code == 204
        for body in malformed_callbacks(open_conversation):
            response = client.post("/_dash-update-component", json=body)
            assert response.status_code == 400, (json.dumps(body)[-300:], response.text)
            error = response.json()["error"]
            assert error["type"] == "invalid_request"
            assert error["message"].startswith("Malformed callback request: "), error
        for path in ("/api/chat", "/api/chat/stream", "/login", "/v1/chat/completions"):
            for raw in API_BODIES:
                headers = {
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {GATEWAY_KEY}",
                }
                response = client.post(path, content=raw, headers=headers)
                assert response.status_code in (400, 401), (path, raw, response.text)
                assert response.json()["error"]["message"]
        not_json = client.post("/_dash-update-component", content=b"{", headers=headers)
        assert not_json.status_code == 400
    assert fake.requests == []
    log = app.log()
    assert "Traceback" not in log
    assert "parameters" not in log.lower()
    assert '" 500 ' not in log  # no request answered 500 (gunicorn's access lines)
    assert "refused a malformed callback request" in log
