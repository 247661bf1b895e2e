"""GET /api/providers/check: one tiny real request per provider, failures named, keys hidden."""

from __future__ import annotations

import socket

from tests.conftest import TEST_KEY
from tests.fake_upstream import Error

AZURE = {
    "azure_openai_api_key": TEST_KEY,
    "openai_api_version": "2024-10-21",
    "azure_openai_model_mapper": "gpt-4o=my-gpt4o",
    "openai_model": "gpt-4o",
}


def check(client) -> list[dict]:
    response = client.get("/api/providers/check")
    assert response.status_code == 200
    return response.get_json()["providers"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_working_provider_is_ok_with_a_one_token_request(client, fake):
    [result] = check(client)
    assert result["ok"] is True
    assert result["model"] == "gpt-4o-mini"
    assert isinstance(result["latency_ms"], int)
    [request] = fake.requests
    assert request.body["max_tokens"] == 1
    assert request.body["messages"] == [{"role": "user", "content": "ping"}]


def test_azure_check_uses_the_deployment_and_api_version(make_app, fake):
    app = make_app(azure_openai_endpoint=fake.azure_endpoint, **AZURE)
    [result] = check(app.server.test_client())
    assert result["ok"] is True
    assert result["kind"] == "azure"
    [request] = fake.requests
    assert request.deployment == "my-gpt4o"
    assert request.query["api-version"] == "2024-10-21"


def test_a_bad_key_is_named_and_never_shown(make_app, fake):
    app = make_app(openai_api_key="sk-wrong-secret-value")
    [result] = check(app.server.test_client())
    assert result["ok"] is False
    assert result["error"]["type"] == "authentication_error"
    body = app.server.test_client().get("/api/providers/check").get_data(as_text=True)
    assert "wrong-secret" not in body
    assert "sk-wrong" not in body


def test_a_wrong_deployment_name_is_named(make_app, fake):
    fake.script(
        Error(
            404, "The API deployment for this resource does not exist.", code="DeploymentNotFound"
        )
    )
    app = make_app(azure_openai_endpoint=fake.azure_endpoint, **AZURE)
    [result] = check(app.server.test_client())
    assert result["error"]["type"] == "deployment_not_found"
    assert "deployment" in result["error"]["detail"]


def test_a_wrong_api_version_is_named(make_app, fake):
    fake.script(Error(400, "Unsupported api-version. The supported values are ...", code="404"))
    app = make_app(
        azure_openai_endpoint=fake.azure_endpoint, **{**AZURE, "openai_api_version": "1999-01-01"}
    )
    [result] = check(app.server.test_client())
    assert result["error"]["type"] == "api_version_error"
    assert fake.requests[-1].query["api-version"] == "1999-01-01"


def test_an_unreachable_provider_is_named(make_app):
    app = make_app(openai_base_url=f"http://127.0.0.1:{closed_port()}/v1")
    [result] = check(app.server.test_client())
    assert result["ok"] is False
    assert result["error"]["type"] == "connection_error"


def test_a_provider_without_a_key_is_reported_without_calling_it(make_app, fake):
    app = make_app(
        azure_openai_endpoint=fake.azure_endpoint, **{**AZURE, "azure_openai_api_key": None}
    )
    [result] = check(app.server.test_client())
    assert result["error"]["type"] == "missing_api_key"
    assert result["error"]["detail"] == "AZURE_OPENAI_API_KEY"
    assert fake.requests == []


def test_every_provider_of_a_providers_file_is_checked(make_app, fake, tmp_path, monkeypatch):
    monkeypatch.setenv("CHECK_AZURE_KEY", TEST_KEY)
    path = tmp_path / "providers.yaml"
    path.write_text(
        f"""\
providers:
  - id: azure
    kind: azure
    endpoint: {fake.azure_endpoint}
    api_version: "2024-10-21"
    api_key_env: CHECK_AZURE_KEY
    models: [{{id: gpt-4o, deployment: my-gpt4o}}]
  - id: broken
    kind: compatible
    base_url: http://127.0.0.1:{closed_port()}/v1
    models: [{{id: llama3}}]
""",
        encoding="utf-8",
    )
    app = make_app(providers_file=str(path))
    results = {r["id"]: r for r in check(app.server.test_client())}
    assert results["azure"]["ok"] is True
    assert results["broken"]["ok"] is False
    assert results["broken"]["error"]["type"] == "connection_error"
