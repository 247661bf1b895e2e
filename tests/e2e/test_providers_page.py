"""Two providers in one page: the model picker, the settings drawer, the connection check."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import TEST_KEY
from tests.e2e.test_chat_page import conversation, send, wait_idle

pytestmark = pytest.mark.e2e

PROVIDERS = """\
providers:
  - id: azure
    kind: azure
    name: Azure OpenAI
    endpoint: {azure}
    api_version: 2024-10-21
    api_key_env: TEST_AZURE_KEY
    models:
      - {{id: gpt-4o, name: GPT-4o (Azure), deployment: my-gpt4o}}
  - id: local
    kind: compatible
    name: Local Ollama
    base_url: {local}
    api_key_env: TEST_LOCAL_KEY
    models:
      - {{id: llama3, name: Llama 3 (local)}}
default_model: gpt-4o
"""


@pytest.fixture(scope="module")
def two_providers(start_app, upstream, tmp_path_factory):
    """The app with GPT-4o on a fake Azure and llama3 on a fake compatible endpoint."""
    path = tmp_path_factory.mktemp("providers") / "providers.yaml"
    path.write_text(
        PROVIDERS.format(azure=upstream.azure_endpoint, local=upstream.base_url), encoding="utf-8"
    )
    return start_app(PROVIDERS_FILE=str(path), TEST_AZURE_KEY=TEST_KEY, TEST_LOCAL_KEY=TEST_KEY)


def pick_model(page: Page, label: str) -> None:
    page.locator(".ant-select:has(#header-model-select)").click()
    page.locator(".ant-select-item-option", has_text=label).click()


def test_switching_provider_mid_conversation(two_providers, open_page, fake):
    page = open_page(two_providers.url)
    send(page, "hello azure")
    wait_idle(page, 1)
    first = fake.requests[-1]
    assert first.path == "/openai/deployments/my-gpt4o/chat/completions"
    assert first.query["api-version"] == "2024-10-21"
    assert first.headers["api-key"] == TEST_KEY

    pick_model(page, "Llama 3 (local)")
    send(page, "hello llama")
    wait_idle(page, 2)
    second = fake.requests[-1]
    assert second.path == "/v1/chat/completions"
    assert second.body["model"] == "llama3"
    # The conversation so far went along to the new provider.
    assert conversation(second)[0]["content"] == "hello azure"
    tags = page.locator(".chat-message-assistant .chat-model-tag").all_inner_texts()
    assert tags == ["gpt-4o", "llama3"]

    page.reload()  # the picked model is remembered
    picked = page.locator(".ant-select:has(#header-model-select) .ant-select-selection-item")
    expect(picked).to_have_text("Llama 3 (local)")


def test_settings_drawer_values_reach_the_upstream_only_when_custom(two_providers, open_page, fake):
    page = open_page(two_providers.url)
    send(page, "defaults please")
    wait_idle(page, 1)
    body = fake.requests[-1].body
    assert "temperature" not in body and "max_tokens" not in body and "top_p" not in body

    page.click("#header-settings-button")
    drawer = page.locator(".ant-drawer-content")
    expect(drawer).to_be_visible()
    expect(page.locator("#settings-max-tokens")).to_be_disabled()
    page.click("#settings-custom-switch")
    expect(page.locator("#settings-max-tokens")).to_be_enabled()
    page.fill("#settings-max-tokens", "64")
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()

    send(page, "custom please")
    wait_idle(page, 2)
    body = fake.requests[-1].body
    assert body["max_tokens"] == 64
    assert body["temperature"] == 1.0
    assert body["top_p"] == 1


def test_connection_check_reports_each_provider(two_providers, open_page, fake):
    page = open_page(two_providers.url)
    page.click("#header-settings-button")
    page.click("#settings-check-button")
    rows = page.locator(".settings-check-row")
    expect(rows).to_have_count(2, timeout=15_000)
    expect(rows.nth(0)).to_contain_text("Azure OpenAI · gpt-4o")
    expect(rows.nth(0)).to_contain_text("Connected")
    expect(rows.nth(1)).to_contain_text("Local Ollama · llama3")
    paths = sorted(r.path for r in fake.requests)
    assert paths == ["/openai/deployments/my-gpt4o/chat/completions", "/v1/chat/completions"]


def test_connection_check_names_the_failure_without_the_key(start_app, open_page, fake):
    app = start_app(OPENAI_API_KEY="sk-wrong-key-for-check")
    page = open_page(app.url)
    page.click("#header-settings-button")
    page.click("#settings-check-button")
    row = page.locator(".settings-check-row")
    expect(row).to_contain_text("rejected", timeout=15_000)
    assert "sk-wrong-key-for-check" not in page.content()
    assert "wrong-key" not in row.inner_text()


def test_with_only_azure_variables_a_newcomer_chats_through_azure(start_app, open_page, fake):
    app = start_app(
        OPENAI_API_KEY="",
        OPENAI_BASE_URL="",
        AZURE_OPENAI_ENDPOINT=fake.azure_endpoint,
        AZURE_OPENAI_API_KEY=TEST_KEY,
        OPENAI_API_VERSION="2024-10-21",
        AZURE_OPENAI_MODEL_MAPPER="gpt-4o=my-gpt4o",
        OPENAI_MODEL="gpt-4o",
    )
    page = open_page(app.url)
    expect(page.locator(".app-alert")).to_have_count(0)  # no "set a key" warning
    send(page, "hello from azure")
    wait_idle(page, 1)
    expect(page.locator(".chat-message-assistant")).to_contain_text("Echo: hello from azure")
    request = fake.requests[-1]
    assert request.path == "/openai/deployments/my-gpt4o/chat/completions"
    assert request.headers["api-key"] == TEST_KEY
