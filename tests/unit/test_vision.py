"""Which models see images: the providers file's `vision`, else the model's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.turn import page_config
from config import Settings
from services.providers import ProviderRegistry, load_providers_file
from services.vision import sees_images_by_name


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o",
        "gpt-4o-mini-2024-07-18",
        "gpt-4.1-nano",
        "gpt-4-turbo",
        "gpt-5-mini",
        "o1",
        "o3",
        "o4-mini",
        "chatgpt-4o-latest",
        "claude-3-5-sonnet-20241022",
        "claude-sonnet-4-5",
        "gemini-2.0-flash",
        "qwen-vl-max",
        "Qwen/Qwen2.5-VL-7B-Instruct",
        "glm-4v-plus",
        "llava:13b",
        "pixtral-12b",
        "meta-llama/Llama-3.2-11B-Vision-Instruct",
        "grok-2-vision-1212",
        # Chinese providers' vision models, as their consoles name them.
        "moonshot-v1-8k-vision-preview",
        "doubao-1.5-vision-pro",
        "glm-4.5v",
    ],
)
def test_vision_names(model):
    assert sees_images_by_name(model)


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4",
        "gpt-3.5-turbo",
        "gpt-35-turbo",
        "o1-mini",
        "o1-preview",
        "o3-mini",
        "llama3",
        "qwen2.5",
        "deepseek-chat",
        "glm-4",
        "gpt-4o-mini-tts",
        "evolve-7b",
    ],
)
def test_text_only_names(model):
    assert not sees_images_by_name(model)


PROVIDERS = """\
providers:
  - id: azure
    kind: azure
    endpoint: https://example.openai.azure.com
    api_version: 2024-10-21
    models:
      - {id: gpt-4o, deployment: prod-main}   # by its id's name
      - {id: house, deployment: gpt-4o-mini}  # by its deployment's name
      - {id: turbo, deployment: gpt-4o, vision: false}
  - id: local
    kind: compatible
    base_url: http://127.0.0.1:11434/v1
    vision: true
    models:
      - {id: my-vlm}
      - {id: llama3, vision: false}
"""


def test_providers_file_says_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "providers.yaml"
    path.write_text(PROVIDERS, encoding="utf-8")
    registry = ProviderRegistry(
        load_providers_file(path), Settings(_env_file=None), client_factory=lambda *a: object()
    )
    assert registry.vision_models == ["gpt-4o", "house", "my-vlm"]
    assert not registry.sees_images("llama3")
    config = page_config(
        lang="en", max_input_chars=10, max_history_rounds=1, vision_models=registry.vision_models
    )
    assert config["visionModels"] == ["gpt-4o", "house", "my-vlm"]
