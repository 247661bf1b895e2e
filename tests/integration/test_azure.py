"""Azure OpenAI end to end: routes -> ChatService -> real `openai.AzureOpenAI` -> fake upstream.

The fake serves Azure's own paths (`/openai/deployments/<deployment>/chat/completions`) and
checks the `api-key` header, so these tests see exactly what Azure would receive: the
deployment the model mapper chose, the api-version and the key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_KEY
from tests.fake_upstream import Error, FakeUpstream, Reply

ROOT = Path(__file__).resolve().parents[2]
USER = [{"role": "user", "content": "Hello Azure"}]
WRONG_KEY = "azure-wrong-fake-key-999"
API_VERSION = "2024-10-21"
MAPPER = "gpt-4o=my-gpt4o,gpt-35-turbo=xc-gpt-35"
USAGE = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
FILTER_MESSAGE = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content management "
    "policy."
)


# --------------------------------------------------------------------------- helpers


def parse_sse(body: str) -> list[dict]:
    """Each event must be exactly one `data: <json>` line and its blank line."""
    assert body.endswith("\n\n"), f"stream does not end with a complete event: {body[-80:]!r}"
    events = []
    for block in body[: -len("\n\n")].split("\n\n"):
        assert block.startswith("data: ") and "\n" not in block, f"bad event: {block!r}"
        events.append(json.loads(block[len("data: ") :]))
    return events


def stream(client, messages=USER, **extra) -> tuple[str, dict]:
    """POST /api/chat/stream; (the reply text, the final event)."""
    response = client.post("/api/chat/stream", json={"messages": messages, **extra})
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    raw = response.get_data(as_text=True)
    assert TEST_KEY not in raw and WRONG_KEY not in raw
    *body, final = parse_sse(raw)
    assert all("delta" in e and "done" not in e and "error" not in e for e in body), body
    assert ("done" in final) != ("error" in final), final
    return "".join(e["delta"] for e in body), final


def azure_app(make_app, **overrides):
    values = {
        "azure_openai_api_key": TEST_KEY,
        "openai_api_version": API_VERSION,
        "azure_openai_model_mapper": MAPPER,
        "openai_model": "gpt-4o",
    }
    values.update(overrides)
    return make_app(**values)


@pytest.fixture(autouse=True)
def no_stray_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key in the developer's shell must not make the "missing key" tests pass or fail."""
    for name in ("AZURE_OPENAI_API_KEY", "OPENAI_API_KEY", "TEST_AZURE_KEY", "TEST_LOCAL_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def azure(make_app, fake: FakeUpstream):
    """A Flask test client for an app configured for Azure through the environment's settings."""
    return azure_app(make_app, azure_openai_endpoint=fake.azure_endpoint).server.test_client()


def assert_azure_request(record, deployment: str) -> None:
    assert record.method == "POST"
    assert record.path == f"/openai/deployments/{deployment}/chat/completions"
    assert record.deployment == deployment
    assert record.query == {"api-version": API_VERSION}
    assert record.headers["api-key"] == TEST_KEY
    # The key goes in `api-key` only, never as an OpenAI bearer token.
    assert TEST_KEY not in record.headers.get("authorization", "")


# --------------------------------------------------------------------------- model mapper


@pytest.mark.parametrize(
    ("model", "deployment"), [("gpt-4o", "my-gpt4o"), ("gpt-35-turbo", "xc-gpt-35")]
)
def test_stream_reaches_the_mapped_deployment(azure, fake, model: str, deployment: str) -> None:
    fake.script(Reply("Hi from Azure, 你好 🌍", chunk_size=3, usage=USAGE))

    text, final = stream(azure, model=model)

    assert text == "Hi from Azure, 你好 🌍"
    assert final["done"] is True
    assert final["model"] == model
    assert final["finish_reason"] == "stop"
    assert final["usage"] == USAGE
    (record,) = fake.requests
    assert_azure_request(record, deployment)
    assert record.body["stream"] is True
    assert record.body["messages"] == USER


@pytest.mark.parametrize(
    ("model", "deployment"), [("gpt-4o", "my-gpt4o"), ("gpt-35-turbo", "xc-gpt-35")]
)
def test_json_reaches_the_mapped_deployment(azure, fake, model: str, deployment: str) -> None:
    fake.script(Reply("Whole answer", usage=USAGE))

    response = azure.post("/api/chat", json={"messages": USER, "model": model})

    assert response.status_code == 200
    assert response.get_json() == {
        "reply": "Whole answer",
        "usage": USAGE,
        "finish_reason": "stop",
        "model": model,
        "context": {"dropped_rounds": 0, "retried": False},
    }
    (record,) = fake.requests
    assert_azure_request(record, deployment)
    assert "stream" not in record.body


def test_default_model_when_none_is_named(azure, fake) -> None:
    text, final = stream(azure)
    response = azure.post("/api/chat", json={"messages": USER})

    assert text == "Echo: Hello Azure"
    assert final["model"] == "gpt-4o"
    assert response.status_code == 200
    assert response.get_json()["model"] == "gpt-4o"
    assert [r.deployment for r in fake.requests] == ["my-gpt4o", "my-gpt4o"]


@pytest.mark.parametrize("model", ["gpt-4o-mini", "my-gpt4o", "GPT-4o"])
@pytest.mark.parametrize("path", ["/api/chat/stream", "/api/chat"])
def test_model_not_configured_is_a_400(azure, fake, path: str, model: str) -> None:
    response = azure.post(path, json={"messages": USER, "model": model})

    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["type"] == "invalid_request"
    assert model in error["message"]
    assert fake.requests == []


def test_max_tokens_is_sent_as_max_tokens_to_azure(azure, fake) -> None:
    stream(azure, model="gpt-35-turbo", max_tokens=50, temperature=0.2)

    body = fake.requests[0].body
    assert body["max_tokens"] == 50
    assert "max_completion_tokens" not in body
    assert body["temperature"] == 0.2


# --------------------------------------------------------------------------- keys


def test_wrong_key_is_an_authentication_error(make_app, fake) -> None:
    client = azure_app(
        make_app, azure_openai_endpoint=fake.azure_endpoint, azure_openai_api_key=WRONG_KEY
    ).server.test_client()

    _, final = stream(client)
    response = client.post("/api/chat", json={"messages": USER})

    assert final["error"]["type"] == "authentication_error"
    assert response.status_code == 502
    assert response.get_json()["error"]["type"] == "authentication_error"
    assert WRONG_KEY not in response.get_data(as_text=True)
    assert [r.headers["api-key"] for r in fake.requests] == [WRONG_KEY, WRONG_KEY]


def test_missing_azure_key_names_the_variable(make_app, fake) -> None:
    client = azure_app(
        make_app, azure_openai_endpoint=fake.azure_endpoint, azure_openai_api_key=None
    ).server.test_client()

    _, final = stream(client, model="gpt-35-turbo")
    response = client.post("/api/chat", json={"messages": USER})

    assert final["error"]["type"] == "missing_api_key"
    assert final["error"]["detail"] == "AZURE_OPENAI_API_KEY"
    assert "AZURE_OPENAI_API_KEY" in final["error"]["message"]
    assert response.status_code == 503
    assert response.get_json()["error"]["detail"] == "AZURE_OPENAI_API_KEY"
    assert fake.requests == []


# --------------------------------------------------------------------------- Azure's stream quirks


def test_empty_choices_chunks_keep_the_whole_reply(azure, fake) -> None:
    text = "Prompt filter results first, then the answer."
    fake.script(Reply(text, chunk_size=5, empty_choices_chunks=True, usage=USAGE))

    got, final = stream(azure, model="gpt-35-turbo")

    assert got == text
    assert final["done"] is True
    assert final["usage"] == USAGE


def test_empty_choices_non_streaming(azure, fake) -> None:
    fake.script(Reply("Annotated", empty_choices_chunks=True))

    response = azure.post("/api/chat", json={"messages": USER})

    assert response.status_code == 200
    assert response.get_json()["reply"] == "Annotated"


@pytest.mark.parametrize("path", ["/api/chat/stream", "/api/chat"])
def test_prompt_content_filter_is_a_clear_error(azure, fake, path: str) -> None:
    fake.script(Error(400, FILTER_MESSAGE, code="content_filter"))

    response = azure.post(path, json={"messages": USER})

    if path == "/api/chat":
        assert response.status_code == 400
        error = response.get_json()["error"]
    else:
        assert response.status_code == 200
        error = parse_sse(response.get_data(as_text=True))[-1]["error"]
    assert error["type"] == "content_filter"
    assert error["detail"] == FILTER_MESSAGE
    assert "content filter" in error["message"]
    # The app still answers afterwards.
    assert stream(azure)[1]["done"] is True


def test_reply_stopped_by_content_filter_keeps_the_partial_text(azure, fake) -> None:
    fake.script(Reply("The first half of", chunk_size=4, finish_reason="content_filter"))

    text, final = stream(azure, snapshots=True)

    assert text == "The first half of"
    assert final["error"]["type"] == "content_filter"
    assert final["content"] == "The first half of"


def test_json_reply_stopped_by_content_filter(azure, fake) -> None:
    fake.script(Reply("Partial", finish_reason="content_filter"))

    response = azure.post("/api/chat", json={"messages": USER})

    assert response.status_code == 400
    assert response.get_json()["error"]["type"] == "content_filter"


@pytest.mark.parametrize(
    "reply",
    [
        Reply("Complete despite framing.", final_chunk_without_blank_line=True, usage=USAGE),
        Reply("Complete despite framing.", content_then_done_without_separator=True, usage=USAGE),
        Reply("Complete despite framing.", last_event_without_blank_line=True, usage=USAGE),
    ],
    ids=["final-chunk-unterminated", "merged-with-done", "done-unterminated"],
)
def test_unterminated_last_event_still_completes_the_reply(azure, fake, reply: Reply) -> None:
    fake.script(reply)

    text, final = stream(azure, model="gpt-35-turbo")

    assert text == "Complete despite framing."
    assert final == {
        "done": True,
        "usage": USAGE,
        "finish_reason": "stop",
        "model": "gpt-35-turbo",
        "context": {"dropped_rounds": 0, "retried": False},
    }


# --------------------------------------------------------------------------- providers file


def providers_yaml(fake: FakeUpstream) -> str:
    return f"""\
providers:
  - id: azure
    kind: azure
    name: Azure OpenAI
    endpoint: {fake.azure_endpoint}
    api_version: "{API_VERSION}"
    api_key_env: TEST_AZURE_KEY
    models:
      - {{id: gpt-4o, name: GPT-4o, deployment: my-gpt4o}}
  - id: local
    kind: compatible
    base_url: {fake.base_url}
    api_key_env: TEST_LOCAL_KEY
    models:
      - {{id: llama3, name: Llama 3}}
      - {{id: qwen, deployment: qwen2.5:7b}}
default_model: llama3
"""


@pytest.fixture
def two_providers(make_app, fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "providers.yaml"
    path.write_text(providers_yaml(fake), encoding="utf-8")
    monkeypatch.setenv("TEST_AZURE_KEY", TEST_KEY)
    monkeypatch.setenv("TEST_LOCAL_KEY", TEST_KEY)
    # The OPENAI_* settings that settings_for() sets must not matter once a file is in use.
    return make_app(providers_file=str(path), openai_api_key=None).server.test_client()


def test_providers_file_switches_provider_mid_conversation(two_providers, fake) -> None:
    fake.script(Reply("Azure first."), Reply("Then local."), Reply("Azure again."))
    history = [{"role": "user", "content": "One"}]

    text1, final1 = stream(two_providers, history, model="gpt-4o")
    history += [{"role": "assistant", "content": text1}, {"role": "user", "content": "Two"}]
    text2, final2 = stream(two_providers, history, model="llama3")
    history += [{"role": "assistant", "content": text2}, {"role": "user", "content": "Three"}]
    text3, final3 = stream(two_providers, history, model="gpt-4o")

    assert (text1, text2, text3) == ("Azure first.", "Then local.", "Azure again.")
    assert [f["model"] for f in (final1, final2, final3)] == ["gpt-4o", "llama3", "gpt-4o"]
    first, second, third = fake.requests
    assert_azure_request(first, "my-gpt4o")
    assert_azure_request(third, "my-gpt4o")
    assert second.path == "/v1/chat/completions"
    assert second.query == {}
    assert second.deployment is None
    assert second.headers["authorization"] == f"Bearer {TEST_KEY}"
    assert "api-key" not in second.headers
    assert second.body["model"] == "llama3"
    # The other provider's answer is part of the history sent to this one.
    assert second.body["messages"] == history[:3]
    assert third.body["messages"] == history


def test_providers_file_default_and_upstream_name(two_providers, fake) -> None:
    _, final = stream(two_providers)
    response = two_providers.post("/api/chat", json={"messages": USER, "model": "qwen"})

    assert final["model"] == "llama3"
    assert response.status_code == 200
    assert response.get_json()["model"] == "qwen"
    first, second = fake.requests
    assert (first.path, first.body["model"]) == ("/v1/chat/completions", "llama3")
    # A compatible provider's `deployment` is the upstream model name.
    assert (second.path, second.body["model"]) == ("/v1/chat/completions", "qwen2.5:7b")


def test_providers_file_refuses_models_it_does_not_list(two_providers, fake) -> None:
    # gpt-4o-mini is settings_for()'s OPENAI_MODEL, which the file replaces.
    for model in ("gpt-35-turbo", "gpt-4o-mini"):
        response = two_providers.post("/api/chat", json={"messages": USER, "model": model})
        assert response.status_code == 400
    assert fake.requests == []


def test_providers_file_missing_key_names_its_variable(
    make_app, fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "providers.yaml"
    path.write_text(providers_yaml(fake), encoding="utf-8")
    monkeypatch.setenv("TEST_LOCAL_KEY", TEST_KEY)
    client = make_app(providers_file=str(path)).server.test_client()

    _, azure_final = stream(client, model="gpt-4o")
    local_text, _ = stream(client, model="llama3")

    assert azure_final["error"]["type"] == "missing_api_key"
    assert azure_final["error"]["detail"] == "TEST_AZURE_KEY"
    assert local_text == "Echo: Hello Azure"
    assert [r.path for r in fake.requests] == ["/v1/chat/completions"]


# --------------------------------------------------------------------------- start-up


def start_app(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run `python chat_app.py` with only the given configuration variables."""
    clean = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OPENAI_", "AZURE_", "PROVIDERS_", "GATEWAY_"))
    }
    # Should a broken check let the server start, the timeout below fails the test.
    clean.update({"CHAT_ENV_FILE": "", "HOST": "127.0.0.1", **env})
    return subprocess.run(
        [sys.executable, "chat_app.py"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_bad_providers_file_stops_start_up_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "providers.yaml"
    path.write_text(
        "providers:\n"
        "  - id: local\n"
        "    kind: compatible\n"
        "    base_ulr: http://127.0.0.1:11434/v1\n"
        "    models: [{id: llama3}]\n",
        encoding="utf-8",
    )

    result = start_app(tmp_path, PROVIDERS_FILE=str(path))

    assert result.returncode != 0
    assert "Configuration error" in result.stderr
    assert f"{path}:4" in result.stderr
    assert "base_ulr" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_model_mapper_stops_start_up(tmp_path: Path) -> None:
    result = start_app(
        tmp_path,
        AZURE_OPENAI_ENDPOINT="https://my-resource.openai.azure.com",
        AZURE_OPENAI_API_KEY=TEST_KEY,
        AZURE_OPENAI_MODEL_MAPPER="gpt-4o=my-gpt4o,gpt-35-turbo",
    )

    assert result.returncode != 0
    assert "Configuration error" in result.stderr
    assert "AZURE_OPENAI_MODEL_MAPPER" in result.stderr
    assert "'gpt-35-turbo'" in result.stderr
    assert "Traceback" not in result.stderr
