"""Fuzz the HTTP API against its own OpenAPI document (GET /api/openapi.json).

schemathesis reads the document the app serves and sends generated requests, valid and not,
to every operation, in process (WSGI), with the app wired to the fake upstream (default echo
reply, so an upstream error here would be the app's own doing). Every response must be below
500 and match the documented status codes, content types, headers and schemas. A plain
hypothesis test then throws arbitrary bytes and JSON at the chat routes and the gateway.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from api.gateway import FORWARDED_PARAMS
from chat_app import create_app
from tests.conftest import TEST_KEY, settings_for
from tests.fake_upstream import FakeUpstream

GATEWAY_TOKEN = "gw-fuzz-token-1"
SEED = 20261121
CHAT_ROUTES = ["/api/chat", "/api/chat/stream"]

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {
            "max-examples": 60,
            "deterministic": True,
            # No example database: CI runs exactly the examples the seed picks, nothing replayed.
            "database": "none",
        },
        "checks": {
            # This check also wants 405 for OPTIONS, which Flask answers (200 with `Allow`) on
            # every route, as HTTP intends. Wrong methods on the API do get 405 with an exact
            # `Allow` (tests/integration/test_security.py), and allow_header_conformance stays on.
            "unsupported_method": {"enabled": False},
        },
        "phases": {
            # No links between operations to follow (the document declares none).
            "stateful": {"enabled": False},
        },
        "operations": [
            {
                "include-path": CHAT_ROUTES,
                "checks": {
                    # Valid per schema is not enough here: the last message must be the user's
                    # and not blank, which JSON Schema cannot say (the document says it in
                    # words). Such bodies get an honest 400, which this check would call a bug.
                    "positive_data_acceptance": {"enabled": False},
                },
            },
            {
                # A schema-valid upload is any bytes; only a real image or document is taken,
                # and the rest get an honest 400 saying why (api/attachments.py).
                "include-path": "/api/attachments",
                "checks": {"positive_data_acceptance": {"enabled": False}},
            },
        ],
    }
)

# Built at import, since @schema.parametrize needs the schema then (the lazy alternative,
# schemathesis.pytest.from_fixture, breaks under pytest 9: it sets `request.node._nodeid`).
# Its own fake upstream, scripted with nothing, answers every request with the echo reply.
UPSTREAM = FakeUpstream(api_key=TEST_KEY).start()
APP = create_app(settings_for(UPSTREAM, gateway_api_keys=GATEWAY_TOKEN)).server
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", APP, config=CONFIG)


@pytest.fixture(scope="module", autouse=True)
def _stop_upstream():
    yield
    UPSTREAM.stop()


def _sse_data(text: str) -> list[str]:
    return [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]


def _assert_healthy(path: str, status: int, content_type: str, content: str) -> None:
    """Below 500, and a 200 stream ends well: with the upstream healthy, a stream that ends in
    an error event is a server error the status code cannot show."""
    assert status < 500, content[:500]
    if status != 200 or not content_type.startswith("text/event-stream"):
        return
    events = _sse_data(content)
    if path == "/api/chat/stream":
        assert json.loads(events[-1]).get("done") is True, content[-500:]
    else:
        assert events[-1] == "[DONE]", content[-500:]
        assert not any("error" in json.loads(event) for event in events[:-1]), content[-500:]


def _call(case, headers: dict | None = None, seen: Counter | None = None) -> None:
    response = case.call_and_validate(headers=headers)
    if seen is not None:
        seen[(case.operation.label, response.status_code)] += 1
    # Below 500 is also schemathesis's not_a_server_error; stated outright as the contract.
    content_type = (response.headers.get("content-type") or [""])[0]
    content = response.content.decode("utf-8", "replace")
    _assert_healthy(case.operation.path, response.status_code, content_type, content)


def _check_described(case, seen: Counter | None = None) -> None:
    # As generated: for the gateway that is no token, or a made-up one.
    _call(case, seen=seen)
    if case.operation.path.startswith("/v1/"):
        # And with the right one, so the gateway's own validation and forwarding are fuzzed.
        _call(case, {"Authorization": f"Bearer {GATEWAY_TOKEN}"}, seen=seen)
    assert UPSTREAM.pending == 0


@schema.parametrize()
def test_api_matches_its_description(case) -> None:
    _check_described(case)


def test_login_wall_matches_the_document() -> None:
    """With ACCESS_PASSWORD, the /api routes refuse as documented, and the documented cookie
    (the one POST /login sets) opens them."""
    locked = create_app(settings_for(UPSTREAM, access_password="fuzz-password")).server
    document = APP.test_client().get("/api/openapi.json").get_json()
    scheme = document["components"]["securitySchemes"]["chat_session"]
    assert (scheme["in"], scheme["name"]) == ("cookie", "chat_session")
    described = schemathesis.openapi.from_dict(document, config=CONFIG)
    described.app = locked
    chat = {"messages": [{"role": "user", "content": "Hi"}]}
    for path, method, body in [
        ("/api/chat", "POST", chat),
        ("/api/chat/stream", "POST", chat),
        ("/api/providers/check", "GET", None),
    ]:
        operation = described[path][method]
        for accept in ("application/json", "text/event-stream"):
            payload = {} if body is None else {"body": body}
            case = operation.Case(headers={"Accept": accept}, **payload)
            assert case.call_and_validate().status_code == 401
        client = locked.test_client()
        login = client.post("/login", json={"password": "fuzz-password"})
        assert login.status_code == 200
        assert client.get_cookie("chat_session") is not None
        response = client.open(path, method=method, json=body)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert locked.test_client().get("/api/openapi.json").status_code == 401
    assert locked.test_client().get("/healthz").status_code == 200


# ------------------------------------------------------------- plain hypothesis, raw bodies

# Any code point, lone surrogates too: json.dumps escapes them ("\ud800"), as a client may.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and ±Infinity too: json.dumps writes them, json.loads reads them
    | ANY_TEXT,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(ANY_TEXT, children, max_size=5)
    ),
    max_leaves=20,
)
ROLES = st.sampled_from(["user", "assistant", "system"])
HISTORY = st.lists(st.fixed_dictionaries({"role": ROLES, "content": ANY_TEXT}), max_size=3)
MESSAGES = st.lists(
    st.fixed_dictionaries(
        {"role": ROLES | st.sampled_from(["tool", "developer", ""]) | JSON_VALUES},
        optional={"content": ANY_TEXT | JSON_VALUES},
    ),
    max_size=3,
)
QUESTION = st.fixed_dictionaries({"role": st.just("user"), "content": ANY_TEXT})
# Fields of a chat request, each with values on both sides of its bounds.
FIELDS = {
    "model": ["gpt-4o-mini", "gpt-5-ultra", ""],
    "temperature": [0, 2, 2.0000001, -0.0],
    "top_p": [0, 1, 1.5],
    "max_tokens": [1, 16384, 16385, 0],
    "conversation_id": ["", "x" * 64, "x" * 65],
    "lang": ["en", "zh-cn", "x" * 17],
    "snapshots": [True, False],
}
# Close to real requests, so that many get past the first checks, or all the way upstream.
CHAT_MESSAGES = st.tuples(HISTORY, QUESTION).map(lambda pair: [*pair[0], pair[1]])
CHAT_REQUESTS = st.fixed_dictionaries(
    {"messages": CHAT_MESSAGES},
    optional={name: st.sampled_from(values) for name, values in FIELDS.items()},
)
NEAR_CHAT_REQUESTS = st.fixed_dictionaries(
    {"messages": MESSAGES | JSON_VALUES},
    optional={name: st.sampled_from(values) | JSON_VALUES for name, values in FIELDS.items()},
)
# A well-formed gateway request: its other parameters, any JSON value (NaN too), go upstream.
GATEWAY_REQUESTS = st.fixed_dictionaries(
    {"model": st.just("gpt-4o-mini"), "messages": CHAT_MESSAGES},
    optional={
        **{name: st.floats() | JSON_VALUES for name in FORWARDED_PARAMS},
        "stream": st.booleans(),
    },
)


def _bodies(*requests: st.SearchStrategy) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=300),
        *(strategy.map(lambda value: json.dumps(value).encode()) for strategy in requests),
    )


# Requests that pass validation, so every run reaches the upstream too (the rest mostly stop
# at a check on the way, as they should).
VALID_CHAT_REQUESTS = st.fixed_dictionaries(
    {
        "messages": st.tuples(HISTORY, st.text(min_size=1, max_size=20).filter(str.strip)).map(
            lambda pair: [*pair[0], {"role": "user", "content": pair[1]}]
        )
    },
    optional={"model": st.just("gpt-4o-mini"), "temperature": st.sampled_from([0, 1, 2])},
)
BODIES = {
    "/api/chat": _bodies(JSON_VALUES, NEAR_CHAT_REQUESTS, CHAT_REQUESTS, VALID_CHAT_REQUESTS),
    "/api/chat/stream": _bodies(
        JSON_VALUES, NEAR_CHAT_REQUESTS, CHAT_REQUESTS, VALID_CHAT_REQUESTS
    ),
    "/v1/chat/completions": _bodies(JSON_VALUES, NEAR_CHAT_REQUESTS, GATEWAY_REQUESTS),
}
JSON_TYPES = ["application/json", "application/json; charset=utf-8", "Application/JSON"]
OTHER_TYPES = [
    None,
    "",
    "application/json;charset=latin-1",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "application/jsonx",
]
# Mostly JSON, so that most bodies are read at all; else anything a header can hold.
CONTENT_TYPES = st.integers(0, 99).flatmap(
    lambda n: (
        st.sampled_from(JSON_TYPES)
        if n < 75
        else st.sampled_from(OTHER_TYPES)
        | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
    )
)
ACCEPTS = st.sampled_from([None, "*/*", "application/json", "text/event-stream"])


def _error_message(response) -> str:
    """`error.message` of a refusal: a JSON body, or one SSE event for an SSE-only caller."""
    if response.mimetype == "text/event-stream":
        text = response.get_data(as_text=True)
        assert text.startswith("data: ") and text.endswith("\n\n"), text[:300]
        body = json.loads(text[len("data: ") :])
    else:
        assert response.mimetype == "application/json", response.get_data(as_text=True)[:300]
        body = response.get_json()
    message = body["error"]["message"]
    assert isinstance(message, str) and message.strip()
    return message


@pytest.mark.parametrize("route", list(BODIES))
@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data(), content_type=CONTENT_TYPES, accept=ACCEPTS)
def test_arbitrary_bodies_never_fail_the_server(route, data, content_type, accept) -> None:
    _check_raw(route, data.draw(BODIES[route], label="body"), content_type, accept)


def _check_raw(
    route: str,
    body: bytes,
    content_type: str | None,
    accept: str | None,
    seen: Counter | None = None,
) -> None:
    headers = {"Content-Type": content_type, "Accept": accept}
    headers = {name: value for name, value in headers.items() if value is not None}
    if route.startswith("/v1/"):
        headers["Authorization"] = f"Bearer {GATEWAY_TOKEN}"

    response = APP.test_client().post(route, data=body, headers=headers)

    if seen is not None:
        seen[(f"raw POST {route}", response.status_code)] += 1
    text = response.get_data(as_text=True)  # also runs a streamed reply to its end
    _assert_healthy(route, response.status_code, response.content_type or "", text)
    if 400 <= response.status_code < 500:
        _error_message(response)
    assert UPSTREAM.pending == 0


# The answers the fuzz must get from each operation, refusals and successes alike.
REACHED = {
    "POST /api/chat": {200, 400},
    "POST /api/chat/stream": {200, 400},
    "POST /v1/chat/completions": {200, 400, 401},
    "GET /v1/models": {200, 401},
    "raw POST /api/chat": {200, 400},
    "raw POST /api/chat/stream": {200, 400},
    "raw POST /v1/chat/completions": {200, 400},
}
# A fuzz of its own for the test below, smaller than the tests' above and as deterministic,
# so that what it proves does not depend on which tests ran before it (or on their order).
CHECK_EXAMPLES = 40
CHECK_SETTINGS = settings(
    max_examples=CHECK_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def fuzz_seen() -> Counter:
    """(operation, status) of every response of a small fuzz run now: described operations
    (valid and invalid data, as schemathesis generates them) and raw bodies."""
    seen: Counter = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label not in REACHED:
            continue
        # Invalid data needs something to break: a body (GET /v1/models has none).
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE][: 1 + bool(operation.body)]
        for mode in modes:

            @CHECK_SETTINGS
            @given(case=operation.as_strategy(mode))
            def described(case) -> None:
                _check_described(case, seen)

            described()
    for route, bodies in BODIES.items():
        assert f"raw POST {route}" in REACHED

        @CHECK_SETTINGS
        @given(body=bodies, content_type=CONTENT_TYPES, accept=ACCEPTS)
        def raw(body, content_type, accept) -> None:
            _check_raw(route, body, content_type, accept, seen)  # noqa: B023 (run at once)

        raw()
    return seen


@pytest.mark.parametrize(("label", "statuses"), REACHED.items())
def test_the_fuzz_reached_past_validation(fuzz_seen, label, statuses) -> None:
    """The fuzz gets answers of every kind, not only refusals: it reaches past validation."""
    seen = {status for (operation, status) in fuzz_seen if operation == label}
    assert statuses <= seen, f"{label}: {sorted(fuzz_seen.items())}"
