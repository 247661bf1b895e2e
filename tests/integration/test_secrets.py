"""No key leaves the process: a hostile upstream quotes the key it was sent in every shape
(whole, prefix + last four, without `sk-`, base64 of `user:key`, Azure's hex) in error bodies,
inside streams and in replies; every response body and the whole log of a gunicorn run are
then searched for any piece of it."""

from __future__ import annotations

import base64

import httpx2 as httpx
import pytest

from tests.e2e.conftest import AppProcess
from tests.fake_upstream import LEAK_USER, FakeUpstream, Leak

# Made up; in two parts, so secret scanners pass it.
OPENAI_KEY = "sk-proj-" + "Qx7vT2mLr9ZbK4wHn8JcY3dFp6SgA1uE0oVi5XtRzqWe"
AZURE_KEY = "9f3c2a71be4d48e0a6c5f1d27b93e8c4"
GATEWAY_KEY = "gw-Mv4Lq8Rt2Xz6Bn1Kp9Wd"
PASSWORD = "staff-room-Ht5Jk2Lm"
SECRET_KEY = "cookie-secret-Zr8Yw3Nq6Pt1"
QUESTION = [{"role": "user", "content": "hello"}]
SHAPES = [
    Leak("error", 401),
    Leak("error", 400),
    Leak("error", 500),
    Leak("stream"),
    Leak("reply"),
]


def pieces(text: str, size: int) -> set[str]:
    return {text[i : i + size] for i in range(len(text) - size + 1)}


def forbidden() -> set[str]:
    """Every run of 6 characters of each key (with and without its `sk-proj-`), the shapes
    OpenAI masks a key into, and runs of 10 of every base64 form the upstream sent."""
    found: set[str] = set()
    for key in (OPENAI_KEY, OPENAI_KEY.removeprefix("sk-proj-"), AZURE_KEY, GATEWAY_KEY):
        found |= pieces(key, 6)
    for key in (OPENAI_KEY, AZURE_KEY):
        found |= {key[:7], f"*{key[-4:]}", f".{key[-4:]}"}
        found |= pieces(base64.b64encode(f"{LEAK_USER}:{key}".encode()).decode(), 10)
        found |= pieces(base64.urlsafe_b64encode(key.encode()).decode()[:-4], 10)
    return found | {PASSWORD, SECRET_KEY}


def leaks(text: str) -> list[str]:
    return sorted(piece for piece in forbidden() if piece in text)


def test_the_forbidden_pieces_are_found_where_they_are():
    # The search itself must be able to fail.
    assert leaks(f"said {OPENAI_KEY[:7]}****{OPENAI_KEY[-4:]}")
    assert leaks(base64.b64encode(f"{LEAK_USER}:{AZURE_KEY}".encode()).decode())
    assert not leaks("Incorrect API key provided: [hidden]. 2026-12-06 GET /healthz 200")


@pytest.fixture(scope="module")
def hostile():
    """A fake upstream that takes any key, so it quotes whichever one it was sent."""
    with FakeUpstream(api_key=None) as fake:
        yield fake


@pytest.fixture(scope="module")
def app(hostile, tmp_path_factory):
    providers = tmp_path_factory.mktemp("providers") / "providers.yaml"
    providers.write_text(
        f"""\
providers:
  - id: openai
    kind: compatible
    base_url: {hostile.base_url}
    api_key_env: OPENAI_API_KEY
    models: [{{id: gpt-4o-mini}}]
  - id: azure
    kind: azure
    endpoint: {hostile.azure_endpoint}
    api_version: "2024-10-21"
    api_key_env: AZURE_OPENAI_API_KEY
    models: [{{id: gpt-4o, deployment: my-gpt4o}}]
""",
        encoding="utf-8",
    )
    server = AppProcess(
        {
            "OPENAI_API_KEY": OPENAI_KEY,
            "AZURE_OPENAI_API_KEY": AZURE_KEY,
            "PROVIDERS_FILE": str(providers),
            "GATEWAY_API_KEYS": GATEWAY_KEY,
            "ACCESS_PASSWORD": PASSWORD,
            "SECRET_KEY": SECRET_KEY,
            "OPENAI_MAX_RETRIES": "0",
            "OPENAI_TIMEOUT": "10",
        }
    )
    yield server
    server.stop()


def check_callback(lang: str = "en") -> dict:
    """The ⚙ connection check, as the page sends it."""
    return {
        "output": "settings-check-result.children",
        "outputs": {"id": "settings-check-result", "property": "children"},
        "inputs": [{"id": "settings-check-button", "property": "nClicks", "value": 1}],
        "state": [{"id": "app-lang-store", "property": "data", "value": lang}],
        "changedPropIds": ["settings-check-button.nClicks"],
    }


def test_no_piece_of_a_key_in_any_response_or_the_log(app, hostile):
    bodies: list[str] = []
    with httpx.Client(base_url=app.url, timeout=30) as client:
        signed_in = client.post("/login", json={"password": PASSWORD})
        assert signed_in.status_code == 200
        bearer = {"Authorization": f"Bearer {GATEWAY_KEY}"}
        for model in ("gpt-4o-mini", "gpt-4o"):
            for shape in SHAPES:
                request = {"messages": QUESTION, "model": model}
                hostile.script(shape)
                bodies.append(client.post("/api/chat", json=request).text)
                hostile.script(shape)
                bodies.append(client.post("/api/chat/stream", json=request).text)
                gateway = {"model": model, "messages": QUESTION}
                hostile.script(shape)
                bodies.append(
                    client.post("/v1/chat/completions", json=gateway, headers=bearer).text
                )
                hostile.script(shape)
                streamed = {**gateway, "stream": True}
                bodies.append(
                    client.post("/v1/chat/completions", json=streamed, headers=bearer).text
                )
        for status in (401, 500):
            hostile.script(Leak("error", status), Leak("error", status))
            bodies.append(client.get("/api/providers/check").text)
            hostile.script(Leak("error", status), Leak("error", status))
            callback = client.post("/_dash-update-component", json=check_callback())
            assert callback.status_code == 200, callback.text
            bodies.append(callback.text)
    assert hostile.pending == 0  # every hostile answer was asked for
    everything = "\n".join(bodies)
    # The upstream did quote the keys, and what reached the clients was hidden.
    assert everything.count("[hidden]") >= 40
    assert leaks(everything) == []
    app.stop()
    log = app.log_path.read_text()
    # The stream's error event was logged with its traceback: the path that leaked before.
    assert "unexpected error talking to the model" in log and "Traceback" in log
    assert leaks(log) == []
    # Nothing above reached the page as a 500.
    assert all("internal_error" not in body for body in bodies)
