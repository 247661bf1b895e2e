"""services.providers: the environment's provider, the providers file and the registry.

No network: clients come from a fake factory unless a test checks the real one's type.
Every bad providers file below marks its offending line with `# BAD`, so the expected line
number comes from the text itself, not from the code under test.
"""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from config import Settings
from services.providers import (
    ModelSpec,
    ProviderRegistry,
    ProvidersConfig,
    ProvidersFileError,
    ProviderSpec,
    load_providers,
    load_providers_file,
    providers_from_env,
)

KEY = "sk-unit-fake-key-1234"
AZURE_KEY = "azure-unit-fake-key-5678"
LOCAL_KEY = "local-unit-fake-key-9012"
MAPPER = "gpt-4o=my-gpt4o,gpt-35-turbo=xc-gpt-35"
ENDPOINT = "https://my-resource.openai.azure.com"

GOOD = """\
# GPT-4o and GPT-3.5 on Azure, llama3 on a local server.
providers:
  - id: azure
    kind: azure
    name: Azure OpenAI
    endpoint: https://my-resource.openai.azure.com
    api_version: "2024-10-21"
    api_key_env: TEST_AZURE_KEY
    models:
      - {id: gpt-4o, name: GPT-4o, deployment: my-gpt4o}
      - id: gpt-35-turbo
        deployment: xc-gpt-35
  - id: local
    kind: compatible
    base_url: http://127.0.0.1:11434/v1
    api_key_env: TEST_LOCAL_KEY
    models:
      - {id: llama3, name: Llama 3 (local)}
default_model: llama3
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No variable of the developer's shell (or a `.env` in the cwd) may leak into a test."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    for name in ("TEST_AZURE_KEY", "TEST_LOCAL_KEY", "CHAT_USE_LOCAL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)


def write(tmp_path: Path, text: str, name: str = "providers.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def marked_line(text: str, marker: str = "# BAD") -> int:
    """The 1-based number of the only line of `text` that contains `marker`."""
    numbers = [n for n, line in enumerate(text.splitlines(), 1) if marker in line]
    assert len(numbers) == 1, f"{marker!r} must mark exactly one line"
    return numbers[0]


class FakeFactory:
    """Stands in for build_client: records (provider id, key) and returns one sentinel each."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []
        self.clients: dict[str, object] = {}

    def __call__(self, provider: ProviderSpec, key: str | None, _settings: Settings) -> object:
        self.calls.append((provider.id, key))
        self.clients[provider.id] = object()
        return self.clients[provider.id]


def good_registry(tmp_path: Path, **values: object) -> tuple[ProviderRegistry, FakeFactory]:
    factory = FakeFactory()
    config = load_providers_file(write(tmp_path, GOOD))
    return ProviderRegistry(config, settings(**values), client_factory=factory), factory


# --------------------------------------------------------------------------- the environment


def test_env_openai_by_default() -> None:
    config = providers_from_env(settings(openai_api_key=KEY, openai_model="gpt-4.1"))

    (provider,) = config.providers
    assert provider.kind == "openai"
    assert provider.base_url is None
    assert provider.endpoint is None
    assert provider.api_key_env == "OPENAI_API_KEY"
    assert [m.id for m in provider.models] == ["gpt-4.1"]
    assert provider.models[0].upstream == "gpt-4.1"
    assert config.default_model == "gpt-4.1"


def test_env_official_base_url_is_still_openai() -> None:
    config = providers_from_env(settings(openai_base_url="https://api.openai.com/v1/"))

    assert config.providers[0].kind == "openai"
    assert config.providers[0].base_url is None


def test_env_custom_base_url_is_compatible() -> None:
    config = providers_from_env(settings(openai_base_url="http://127.0.0.1:11434/v1"))

    (provider,) = config.providers
    assert provider.kind == "compatible"
    assert provider.base_url == "http://127.0.0.1:11434/v1"
    assert [m.id for m in provider.models] == ["gpt-4o-mini"]


def test_env_azure_when_endpoint_is_set() -> None:
    config = providers_from_env(
        settings(
            azure_openai_endpoint=ENDPOINT,
            azure_openai_model_mapper=MAPPER,
            openai_model="gpt-4o",
            # The Azure endpoint wins over an OpenAI-compatible base URL.
            openai_base_url="http://127.0.0.1:11434/v1",
        )
    )

    (provider,) = config.providers
    assert provider.kind == "azure"
    assert provider.endpoint == ENDPOINT
    assert provider.base_url is None
    assert provider.api_version == "2024-10-21"
    assert provider.api_key_env == "AZURE_OPENAI_API_KEY"
    assert [(m.id, m.upstream) for m in provider.models] == [
        ("gpt-4o", "my-gpt4o"),
        ("gpt-35-turbo", "xc-gpt-35"),
    ]
    assert config.default_model == "gpt-4o"


def test_env_azure_adds_openai_model_missing_from_the_mapper(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-01-01-preview")
    monkeypatch.setenv(
        "AZURE_OPENAI_MODEL_MAPPER", " gpt-4o = my-gpt4o , , gpt-35-turbo=xc-gpt-35 "
    )
    config = providers_from_env(settings(azure_openai_endpoint=ENDPOINT, openai_model="o3-mini"))

    (provider,) = config.providers
    assert provider.api_version == "2025-01-01-preview"
    # A model the mapper does not name is served by a deployment of the same name.
    assert [(m.id, m.upstream) for m in provider.models] == [
        ("o3-mini", "o3-mini"),
        ("gpt-4o", "my-gpt4o"),
        ("gpt-35-turbo", "xc-gpt-35"),
    ]
    assert config.default_model == "o3-mini"


def test_env_azure_without_mapper_serves_openai_model() -> None:
    config = providers_from_env(settings(azure_openai_endpoint=ENDPOINT, openai_model="gpt-4o"))

    assert [(m.id, m.upstream) for m in config.providers[0].models] == [("gpt-4o", "gpt-4o")]


@pytest.mark.parametrize(
    ("mapper", "pair"),
    [
        ("gpt-4o", "gpt-4o"),
        ("gpt-4o=", "gpt-4o="),
        ("=my-gpt4o", "=my-gpt4o"),
        ("gpt-4o=my-gpt4o,gpt-35-turbo:xc-gpt-35", "gpt-35-turbo:xc-gpt-35"),
    ],
)
def test_env_malformed_mapper_names_the_pair(mapper: str, pair: str) -> None:
    with pytest.raises(ValueError, match="AZURE_OPENAI_MODEL_MAPPER") as caught:
        providers_from_env(
            settings(azure_openai_endpoint=ENDPOINT, azure_openai_model_mapper=mapper)
        )

    assert f"'{pair}'" in str(caught.value)
    assert "model=deployment" in str(caught.value)


def test_load_providers_uses_the_file_only_when_set(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)

    from_file = load_providers(settings(providers_file=str(path), openai_model="gpt-4.1"))
    from_env = load_providers(settings(openai_model="gpt-4.1"))

    assert [p.id for p in from_file.providers] == ["azure", "local"]
    assert [p.id for p in from_env.providers] == ["openai"]


# --------------------------------------------------------------------------- the providers file


def test_good_file_parses(tmp_path: Path) -> None:
    config = load_providers_file(write(tmp_path, GOOD))

    azure, local = config.providers
    assert (azure.id, azure.kind, azure.name) == ("azure", "azure", "Azure OpenAI")
    assert azure.endpoint == ENDPOINT
    assert azure.api_version == "2024-10-21"
    assert azure.api_key_env == "TEST_AZURE_KEY"
    assert azure.models == [
        ModelSpec(id="gpt-4o", name="GPT-4o", deployment="my-gpt4o"),
        ModelSpec(id="gpt-35-turbo", deployment="xc-gpt-35"),
    ]
    assert (local.id, local.kind) == ("local", "compatible")
    assert local.base_url == "http://127.0.0.1:11434/v1"
    assert local.models == [ModelSpec(id="llama3", name="Llama 3 (local)")]
    assert config.default_model == "llama3"


def test_documented_example_parses(tmp_path: Path) -> None:
    # The example in services/providers.py's docstring, as a user would copy it: YAML reads the
    # unquoted `2024-10-21` as a date, which must still be accepted as the api_version string.
    example = """\
providers:
  - id: azure
    kind: azure                      # openai | azure | compatible
    endpoint: https://my-resource.openai.azure.com
    api_version: 2024-10-21
    api_key_env: AZURE_OPENAI_API_KEY
    models:
      - {id: gpt-4o, name: GPT-4o, deployment: my-gpt4o}
  - id: local
    kind: compatible
    base_url: http://127.0.0.1:11434/v1
    models:
      - {id: llama3, name: Llama 3 (local)}
default_model: gpt-4o
"""
    config = load_providers_file(write(tmp_path, example))

    assert config.providers[0].api_version == "2024-10-21"


BAD_FILES = {
    "yaml_syntax": (
        """\
providers:
  - id: a
    kind: openai
    name: a: b  # BAD
    models: [{id: m}]
""",
        "not valid YAML",
    ),
    "yaml_tab": (
        "providers:\n  - id: a\n\tkind: openai  # BAD\n    models: [{id: m}]\n",
        "not valid YAML",
    ),
    "providers_not_a_list": (
        """\
# A scalar where the list of providers belongs.
providers: azure  # BAD
""",
        "providers: Input should be a valid list",
    ),
    "models_not_a_list": (
        """\
providers:
  - id: a
    kind: openai
    models: {id: m}  # BAD
""",
        "providers.0.models: Input should be a valid list",
    ),
    "provider_not_a_mapping": (
        """\
providers:
  - id: a
    kind: openai
    models: [{id: m}]
  - azure  # BAD
""",
        "providers.1: Input should be a valid dictionary",
    ),
    "model_not_a_mapping": (
        """\
providers:
  - id: a
    kind: openai
    models:
      - gpt-4o  # BAD
""",
        "providers.0.models.0: Input should be a valid dictionary",
    ),
    "file_not_a_mapping": (
        """\
- id: a  # BAD
  kind: openai
""",
        "Input should be a valid dictionary",
    ),
    "missing_kind": (
        """\
providers:
  - id: a
    kind: openai
    models: [{id: m}]
  - id: b  # BAD
    base_url: http://127.0.0.1:11434/v1
    models: [{id: n}]
""",
        "providers.1.kind: Field required",
    ),
    "bad_kind": (
        """\
providers:
  - id: a
    kind: ollama  # BAD
    models: [{id: m}]
""",
        "providers.0.kind: Input should be 'openai', 'azure' or 'compatible'",
    ),
    "azure_without_endpoint": (
        """\
providers:
  - id: az  # BAD
    kind: azure
    api_version: "2024-10-21"
    models: [{id: m, deployment: d}]
""",
        "providers.0: an azure provider needs 'endpoint'",
    ),
    "azure_without_api_version": (
        """\
providers:
  - id: az  # BAD
    kind: azure
    endpoint: https://my-resource.openai.azure.com
    models: [{id: m, deployment: d}]
""",
        "providers.0: an azure provider needs 'api_version'",
    ),
    "compatible_without_base_url": (
        """\
providers:
  - id: local  # BAD
    kind: compatible
    models: [{id: llama3}]
""",
        "providers.0: a compatible provider needs 'base_url'",
    ),
    "endpoint_on_openai": (
        """\
providers:
  - id: o  # BAD
    kind: openai
    endpoint: https://my-resource.openai.azure.com
    models: [{id: m}]
""",
        "providers.0: 'endpoint' is for azure providers",
    ),
    "empty_models": (
        """\
providers:
  - id: a
    kind: openai
    models: []  # BAD
""",
        "providers.0.models: List should have at least 1 item",
    ),
    "empty_providers": (
        """\
default_model: m
providers: []  # BAD
""",
        "providers: List should have at least 1 item",
    ),
    "unknown_provider_field": (
        """\
providers:
  - id: a
    kind: openai
    models: [{id: m}]
  - id: local
    kind: compatible
    base_ulr: http://127.0.0.1:11434/v1  # BAD
    models: [{id: llama3}]
""",
        "providers.1.base_ulr: Extra inputs are not permitted",
    ),
    "unknown_model_field": (
        """\
providers:
  - id: a
    kind: azure
    endpoint: https://my-resource.openai.azure.com
    api_version: "2024-10-21"
    models:
      - {id: gpt-4o, deployment: my-gpt4o}
      - {id: gpt-35-turbo, deploymnet: xc-gpt-35}  # BAD
""",
        "providers.0.models.1.deploymnet: Extra inputs are not permitted",
    ),
    "unknown_top_level_field": (
        """\
providers:
  - id: a
    kind: openai
    models: [{id: m}]
default_modle: m  # BAD
""",
        "default_modle: Extra inputs are not permitted",
    ),
    "duplicate_provider_id": (
        """\
providers:
  - id: a
    kind: openai
    models: [{id: m}]
  - id: a  # BAD
    kind: compatible
    base_url: http://127.0.0.1:11434/v1
    models: [{id: n}]
""",
        "provider id 'a' is used twice",
    ),
    "duplicate_model_id": (
        """\
providers:
  - id: a
    kind: openai
    models: [{id: gpt-4o}]
  - id: b
    kind: compatible
    base_url: http://127.0.0.1:11434/v1
    models:
      - id: llama3
      - id: gpt-4o  # BAD
""",
        "model id 'gpt-4o' is used twice",
    ),
    "default_model_not_listed": (
        """\
providers:
  - id: a
    kind: openai
    models: [{id: gpt-4o}]
default_model: gpt-5  # BAD
""",
        "default_model: 'gpt-5' is not a listed model",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_names_path_line_and_field(tmp_path: Path, case: str) -> None:
    text, expected = BAD_FILES[case]
    path = write(tmp_path, text)

    with pytest.raises(ProvidersFileError) as caught:
        load_providers_file(path)

    message = str(caught.value)
    assert message.startswith(f"{path}:{marked_line(text)}: "), message
    assert expected in message, message


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "providers.yaml"

    with pytest.raises(ProvidersFileError) as caught:
        load_providers_file(path)

    assert str(caught.value).startswith(f"{path}: cannot read the providers file")


def test_providers_file_error_is_a_value_error() -> None:
    # chat_app.py turns ValueError into "Configuration error: ..." at start-up.
    assert issubclass(ProvidersFileError, ValueError)


# --------------------------------------------------------------------------- the registry


def test_registry_models_default_and_routes(tmp_path: Path) -> None:
    registry, factory = good_registry(tmp_path)

    assert registry.model_ids == ["gpt-4o", "gpt-35-turbo", "llama3"]
    assert registry.default_model == "llama3"
    upstream = {m: registry.route(m).model.upstream for m in registry.model_ids}
    assert upstream == {"gpt-4o": "my-gpt4o", "gpt-35-turbo": "xc-gpt-35", "llama3": "llama3"}
    assert registry.route(None).model.id == "llama3"
    assert registry.route("gpt-4o").provider.id == "azure"
    assert registry.route("llama3").provider.id == "local"
    # One client per provider, shared by its models.
    assert [provider for provider, _ in factory.calls] == ["azure", "local"]
    assert registry.route("gpt-4o").client is factory.clients["azure"]
    assert registry.route("gpt-35-turbo").client is factory.clients["azure"]
    assert registry.route("llama3").client is factory.clients["local"]


@pytest.mark.parametrize("model", ["gpt-5", "my-gpt4o", "GPT-4o", ""])
def test_registry_unknown_model_is_a_key_error(tmp_path: Path, model: str) -> None:
    registry, _ = good_registry(tmp_path)

    with pytest.raises(KeyError):
        registry.route(model or "nothing-configured")


def test_registry_default_is_the_first_model_without_default_model() -> None:
    config = ProvidersConfig(
        providers=[
            ProviderSpec(id="o", kind="openai", models=[ModelSpec(id="gpt-4.1")]),
            ProviderSpec(
                id="l", kind="compatible", base_url="http://x/v1", models=[ModelSpec(id="q")]
            ),
        ]
    )
    registry = ProviderRegistry(config, settings(), client_factory=FakeFactory())

    assert registry.default_model == "gpt-4.1"
    assert registry.route(None).model.id == "gpt-4.1"


def test_registry_keys_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_AZURE_KEY", f"  {AZURE_KEY}\n")
    monkeypatch.setenv("TEST_LOCAL_KEY", LOCAL_KEY)

    registry, factory = good_registry(tmp_path)

    assert factory.calls == [("azure", AZURE_KEY), ("local", LOCAL_KEY)]
    assert registry.secrets == [AZURE_KEY, LOCAL_KEY]
    assert all(registry.route(m).has_credentials for m in registry.model_ids)
    assert registry.route("gpt-4o").key_variable == "TEST_AZURE_KEY"
    assert registry.has_credentials


def test_registry_keys_from_the_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / "custom.env"
    env_file.write_text(f"TEST_AZURE_KEY={AZURE_KEY}\nTEST_LOCAL_KEY=from-dotenv\n")
    # The real environment wins over the .env file.
    monkeypatch.setenv("TEST_LOCAL_KEY", LOCAL_KEY)
    config = load_providers_file(write(tmp_path, GOOD))
    values = settings(env_file=str(env_file))
    factory = FakeFactory()

    registry = ProviderRegistry(config, values, client_factory=factory)

    assert values.variable("TEST_AZURE_KEY") == AZURE_KEY
    assert values.variable("TEST_LOCAL_KEY") == LOCAL_KEY
    assert values.variable("NOT_SET_ANYWHERE") is None
    assert factory.calls == [("azure", AZURE_KEY), ("local", LOCAL_KEY)]
    assert registry.secrets == [AZURE_KEY, LOCAL_KEY]
    assert registry.route("gpt-4o").has_credentials


def test_variable_ignores_blank_values_and_a_missing_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "blank.env"
    env_file.write_text("TEST_AZURE_KEY=   \n")

    assert settings(env_file=str(env_file)).variable("TEST_AZURE_KEY") is None
    assert settings(env_file=str(tmp_path / "missing.env")).variable("TEST_AZURE_KEY") is None
    monkeypatch.setenv("TEST_AZURE_KEY", "")
    assert settings(env_file=str(env_file)).variable("TEST_AZURE_KEY") is None


def test_registry_without_keys(tmp_path: Path) -> None:
    registry, factory = good_registry(tmp_path)

    assert factory.calls == [("azure", None), ("local", None)]
    assert registry.secrets == []
    # Azure (and OpenAI) always need a key; a self-hosted compatible endpoint may not.
    assert not registry.route("gpt-4o").has_credentials
    assert not registry.route("gpt-35-turbo").has_credentials
    assert registry.route("llama3").has_credentials
    assert registry.has_credentials


def test_registry_openai_without_key_has_no_credentials() -> None:
    registry = ProviderRegistry(
        providers_from_env(settings()), settings(), client_factory=FakeFactory()
    )

    assert not registry.route(None).has_credentials
    assert registry.route(None).key_variable == "OPENAI_API_KEY"
    assert not registry.has_credentials
    assert registry.secrets == []


def test_registry_env_provider_uses_typed_settings_keys() -> None:
    factory = FakeFactory()
    openai_settings = settings(openai_api_key=KEY)
    azure_settings = settings(
        azure_openai_endpoint=ENDPOINT, azure_openai_api_key=AZURE_KEY, openai_model="gpt-4o"
    )

    openai_registry = ProviderRegistry(
        providers_from_env(openai_settings), openai_settings, client_factory=factory
    )
    azure_registry = ProviderRegistry(
        providers_from_env(azure_settings), azure_settings, client_factory=factory
    )

    assert factory.calls == [("openai", KEY), ("azure", AZURE_KEY)]
    assert openai_registry.secrets == [KEY]
    assert azure_registry.secrets == [AZURE_KEY]
    assert azure_registry.route("gpt-4o").has_credentials
    assert azure_registry.route("gpt-4o").key_variable == "AZURE_OPENAI_API_KEY"


def test_registry_options_group_models_by_provider(tmp_path: Path) -> None:
    registry, _ = good_registry(tmp_path)

    assert registry.options() == [
        {
            "group": "Azure OpenAI",
            "options": [
                {"label": "GPT-4o", "value": "gpt-4o"},
                {"label": "gpt-35-turbo", "value": "gpt-35-turbo"},
            ],
        },
        # Without a display name, the provider's id labels its group.
        {"group": "local", "options": [{"label": "Llama 3 (local)", "value": "llama3"}]},
    ]


def test_registry_builds_real_clients_per_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_AZURE_KEY", AZURE_KEY)
    config = load_providers_file(write(tmp_path, GOOD))

    registry = ProviderRegistry(config, settings(openai_max_retries=3))

    azure = registry.route("gpt-4o").client
    local = registry.route("llama3").client
    assert isinstance(azure, openai.AzureOpenAI)
    assert azure.api_key == AZURE_KEY
    assert str(azure.base_url).startswith(f"{ENDPOINT}/openai")
    assert registry.route("gpt-35-turbo").client is azure
    assert isinstance(local, openai.OpenAI) and not isinstance(local, openai.AzureOpenAI)
    assert str(local.base_url).rstrip("/") == "http://127.0.0.1:11434/v1"
    # The SDK insists on a key; a keyless compatible server gets a placeholder, never "".
    assert local.api_key
    # OPENAI_MAX_RETRIES counts services/retry.py's retries; the SDK never retries by itself.
    assert local.max_retries == 0 and azure.max_retries == 0


def test_the_sdk_warms_up_without_the_network(monkeypatch) -> None:
    """gunicorn's master runs one stream through the SDK before forking (gunicorn.conf.py)."""
    import socket

    from services.llm_client import warm_sdk

    def no_network(*args, **kwargs):
        raise AssertionError("the warm-up must not connect anywhere")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    warm_sdk()
