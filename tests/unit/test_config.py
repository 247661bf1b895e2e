"""config.Settings: defaults, the environment, `.env`, and what the app derives from them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config import OFFICIAL_BASE_URL, Settings, load_settings
from services.providers import ProviderRegistry


def has_credentials(settings: Settings) -> bool:
    """Whether the page can ask a model: the registry decides, from these settings."""
    return ProviderRegistry.from_settings(settings).has_credentials


KEY = "sk-unit-fake-key-1234"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """No variable of the developer's shell (or a `.env` in the cwd) may leak into a test."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("CHAT_USE_LOCAL_PROXY", raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    settings = Settings(_env_file=None)
    assert settings.openai_model == "gpt-4o-mini"
    assert settings.max_history_rounds == 10
    assert settings.max_input_chars == 8000
    assert settings.host == "127.0.0.1"
    assert settings.port == 8050
    assert settings.local_proxy == "http://127.0.0.1:10809"
    assert settings.openai_api_key is None
    assert settings.openai_base_url is None
    assert settings.openai_temperature is None
    assert settings.use_local_proxy is False


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "https://gateway.example.com/v1")
    monkeypatch.setenv("OPENAI_MODEL", "gpt-4.1")
    monkeypatch.setenv("OPENAI_TEMPERATURE", "0.3")
    monkeypatch.setenv("MAX_HISTORY_ROUNDS", "3")
    monkeypatch.setenv("MAX_INPUT_CHARS", "500")
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("LOCAL_PROXY", "http://127.0.0.1:7890")
    settings = Settings(_env_file=None)
    assert settings.openai_api_key is not None
    assert settings.openai_api_key.get_secret_value() == KEY
    assert settings.openai_base_url == "https://gateway.example.com/v1"
    assert settings.openai_model == "gpt-4.1"
    assert settings.openai_temperature == 0.3
    assert settings.max_history_rounds == 3
    assert settings.max_input_chars == 500
    assert settings.host == "0.0.0.0"
    assert settings.port == 9000
    assert settings.local_proxy == "http://127.0.0.1:7890"


def test_env_file_is_read(tmp_path) -> None:
    env_file = tmp_path / "custom.env"
    env_file.write_text(f"OPENAI_API_KEY={KEY}\nOPENAI_MODEL=llama3\nPORT=8123\n", encoding="utf-8")
    settings = Settings(_env_file=env_file)
    assert settings.openai_api_key.get_secret_value() == KEY
    assert settings.openai_model == "llama3"
    assert settings.port == 8123


def test_real_environment_wins_over_env_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OPENAI_MODEL=from-file\nPORT=8123\n", encoding="utf-8")
    monkeypatch.setenv("OPENAI_MODEL", "from-env")
    settings = Settings(_env_file=env_file)
    assert settings.openai_model == "from-env"
    assert settings.port == 8123  # what the environment does not set still comes from the file


def test_blank_values_from_a_copied_template_mean_not_set(tmp_path) -> None:
    """`.env.example` copied as is has `OPENAI_API_KEY=` and friends: they must read as unset."""
    env_file = tmp_path / ".env"
    env_file.write_text(
        "OPENAI_API_KEY=\nOPENAI_BASE_URL=\nOPENAI_TEMPERATURE=\nOPENAI_MODEL=gpt-4o-mini\n",
        encoding="utf-8",
    )
    settings = Settings(_env_file=env_file)
    assert settings.openai_api_key is None
    assert settings.openai_base_url is None
    assert settings.openai_temperature is None
    assert has_credentials(settings) is False


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_api_key_means_no_key(monkeypatch: pytest.MonkeyPatch, blank: str) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", blank)
    settings = Settings(_env_file=None)
    assert settings.openai_api_key is None
    assert has_credentials(settings) is False


def test_pasted_key_and_url_lose_stray_whitespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", f"  {KEY}\n")
    monkeypatch.setenv("OPENAI_BASE_URL", " http://127.0.0.1:11434/v1 ")
    settings = Settings(_env_file=None)
    assert settings.openai_api_key.get_secret_value() == KEY
    assert settings.openai_base_url == "http://127.0.0.1:11434/v1"


def test_blank_environment_variables_mean_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_TEMPERATURE", "OPENAI_MODEL", "PORT", "MAX_INPUT_CHARS"):
        monkeypatch.setenv(name, "")
    settings = Settings(_env_file=None)
    assert settings.openai_temperature is None
    assert settings.openai_model == "gpt-4o-mini"
    assert settings.port == 8050
    assert settings.max_input_chars == 8000


@pytest.mark.parametrize("base_url", [None, OFFICIAL_BASE_URL, OFFICIAL_BASE_URL + "/"])
def test_no_credentials_without_key_on_the_official_api(base_url: str | None) -> None:
    settings = Settings(_env_file=None, openai_base_url=base_url)
    assert settings.uses_custom_endpoint is False
    assert has_credentials(settings) is False


def test_key_gives_credentials() -> None:
    assert has_credentials(Settings(_env_file=None, openai_api_key=KEY)) is True


def test_custom_endpoint_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A local Ollama takes no key: a custom OPENAI_BASE_URL alone is enough to try."""
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")
    settings = Settings(_env_file=None)
    assert settings.openai_api_key is None
    assert settings.uses_custom_endpoint is True
    assert has_credentials(settings) is True


def test_proxy_only_in_local_mode() -> None:
    assert Settings(_env_file=None).proxy is None
    local = Settings(_env_file=None, use_local_proxy=True, local_proxy="http://127.0.0.1:7890")
    assert local.proxy == "http://127.0.0.1:7890"


def test_api_key_is_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    settings = Settings(_env_file=None)
    assert KEY not in repr(settings)
    assert KEY not in str(settings)
    assert KEY not in repr(settings.openai_api_key)
    assert KEY not in str(settings.openai_api_key)
    assert KEY not in settings.model_dump_json()
    assert settings.openai_api_key.get_secret_value() == KEY


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "abc"),
        ("PORT", "0"),
        ("PORT", "70000"),
        ("OPENAI_TEMPERATURE", "5"),
        ("OPENAI_TEMPERATURE", "-0.1"),
        ("OPENAI_TIMEOUT", "0"),
        ("MAX_HISTORY_ROUNDS", "-1"),
        ("MAX_INPUT_CHARS", "0"),
    ],
)
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None)
    assert name.lower() in str(info.value)


def test_load_settings_reads_the_file_named_by_chat_env_file(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "elsewhere.env"
    env_file.write_text(
        "OPENAI_MODEL=from-chat-env-file\nLOCAL_PROXY=http://127.0.0.1:1080\n", encoding="utf-8"
    )
    monkeypatch.setenv("CHAT_ENV_FILE", str(env_file))
    settings = load_settings(use_local_proxy=True)
    assert settings.openai_model == "from-chat-env-file"
    assert settings.use_local_proxy is True
    assert settings.proxy == "http://127.0.0.1:1080"


def test_load_settings_reads_no_file_when_chat_env_file_is_empty(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("OPENAI_MODEL=from-dot-env\n", encoding="utf-8")
    monkeypatch.setenv("CHAT_ENV_FILE", "")
    assert load_settings().openai_model == "gpt-4o-mini"


def test_load_settings_defaults_to_dot_env_in_the_working_directory(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("OPENAI_MODEL=from-dot-env\n", encoding="utf-8")
    monkeypatch.delenv("CHAT_ENV_FILE", raising=False)
    settings = load_settings()
    assert settings.openai_model == "from-dot-env"
    assert settings.proxy is None


def test_access_passwords_are_split_and_trimmed():
    settings = Settings(_env_file=None, access_password=" one , two words ,, ")
    assert settings.access_passwords == ["one", "two words"]
    assert Settings(_env_file=None).access_passwords == []
    assert Settings(_env_file=None, access_password="   ").access_passwords == []


def test_timeout_ms_wins_over_openai_timeout():
    assert Settings(_env_file=None, openai_timeout=30).upstream_timeout == 30
    assert Settings(_env_file=None, openai_timeout=30, timeout_ms=1500).upstream_timeout == 1.5


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("self", "'self'"),
        ("'self'", "'self'"),
        ("none", "'none'"),
        ("self https://teams.microsoft.com", "'self' https://teams.microsoft.com"),
    ],
)
def test_frame_ancestors_keywords_are_quoted(given, expected):
    assert Settings(_env_file=None, frame_ancestors=given).frame_ancestors == expected
