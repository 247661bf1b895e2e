"""Settings for the chat app: one typed object, read from the environment and an optional `.env`.

The real environment wins over `.env`. No secret has a default: without `OPENAI_API_KEY` the app
still starts and tells the user on the page how to set it.
"""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

OFFICIAL_BASE_URL = "https://api.openai.com/v1"
APP_DIR = Path(__file__).resolve().parent


class Settings(BaseSettings):
    """Everything the app reads from its environment."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
        # `OPENAI_TEMPERATURE=` in a copied .env.example means "not set", not "invalid".
        env_ignore_empty=True,
    )

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    openai_timeout: float = Field(default=60.0, gt=0)
    # Per-request upstream timeout in milliseconds (the name chatgpt-web uses); wins over
    # OPENAI_TIMEOUT. It bounds connecting and each wait for the next chunk, not a whole reply.
    timeout_ms: int | None = Field(default=None, ge=1)
    # One rule for streamed and whole replies and the gateway (services/retry.py): 429/5xx,
    # connection errors, timeouts and streams cut before any text are retried, before the first
    # token only, after 0.5 -> 1 -> 2 s (each at most 4 s). A Retry-After above 4 s is reported
    # to the user rather than waited out; no retry begins more than 20 s after the first attempt.
    openai_max_retries: int = Field(default=2, ge=0, le=10)

    # Azure OpenAI: used instead of OPENAI_* when the endpoint is set.
    azure_openai_endpoint: str | None = None
    azure_openai_api_key: SecretStr | None = None
    openai_api_version: str = "2024-10-21"
    # "gpt-4o=my-gpt4o,gpt-35-turbo=xc-gpt-35": model names users pick -> deployment names.
    azure_openai_model_mapper: str = ""

    # Several providers at once (YAML); without it the variables above define one provider.
    providers_file: str | None = None

    # The OpenAI-compatible gateway (/v1/...) is off unless this lists bearer tokens.
    gateway_api_keys: SecretStr | None = None

    # Personas (system prompts with a name and greeting), and a lock to one of them.
    # Defaults sit next to this file, so the app finds them whatever directory it starts in.
    personas_file: str = str(APP_DIR / "personas.yaml")
    persona_lock: str | None = None
    # Prices per model for the cost estimate shown to users.
    prices_file: str = str(APP_DIR / "prices.yaml")

    # Upper bound for the "max reply tokens" a user may pick in settings.
    max_reply_tokens: int = Field(default=16384, ge=1)

    max_history_rounds: int = Field(default=10, ge=0)
    max_input_chars: int = Field(default=8000, ge=1)

    host: str = "127.0.0.1"
    port: int = Field(default=8050, ge=1, le=65535)
    # The terminal chat's line history (`python chat_app.py chat`, readline); empty keeps none.
    chat_history_file: str = "~/.chat_app_history"

    local_proxy: str = "http://127.0.0.1:10809"
    # Set by `python chat_app.py local`, not by the environment.
    use_local_proxy: bool = Field(
        default=False, validation_alias=AliasChoices("use_local_proxy", "CHAT_USE_LOCAL_PROXY")
    )

    app_title: str = "ChatGPT"

    # Server-side conversation records (services/records): SQLite next to the app by default;
    # `postgresql+psycopg://user:pass@host/db` for several machines.
    database_url: str = f"sqlite:///{APP_DIR / 'data' / 'chat.db'}"
    records_enabled: bool = True
    # Conversations untouched for longer are deleted by `records purge`; unset keeps them.
    records_retention_days: int | None = Field(default=None, ge=1)
    # A streaming reply goes on record in batches: after this many seconds or characters,
    # whichever comes first (services/records/journal.py). A crash loses at most one batch.
    record_batch_seconds: float = Field(default=1.0, gt=0)
    record_batch_chars: int = Field(default=400, ge=1)

    # Attachments (services/attachments): images for vision models and documents as context,
    # checked in the page and on the server. MAX_ATTACHMENTS=0 turns them off.
    max_attachment_mb: float = Field(default=20, gt=0, le=200)
    max_attachments: int = Field(default=5, ge=0, le=20)
    # Which kinds may be attached (comma-separated, of: image, pdf, docx, xlsx, csv, txt, md).
    attachment_types: str = "image,pdf,docx,xlsx,csv,txt,md"
    # Where attachments' files are kept (their rows are in DATABASE_URL's database; with records
    # off, in a scratch SQLite database there, for ATTACHMENT_TTL_HOURS).
    attachment_dir: str = str(APP_DIR / "data" / "attachments")
    attachment_ttl_hours: float = Field(default=24, gt=0)

    # Access control (api/auth.py): one or several passwords, comma-separated. AUTH_SECRET_KEY
    # is the name chatgpt-web deploys use. Unset: the page is open to anyone who can reach it.
    access_password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("access_password", "auth_secret_key")
    )
    # A sign-in (behind ACCESS_PASSWORD) unused for this long ends; logout ends it at once.
    session_idle_minutes: int = Field(default=1440, ge=1)
    # Accounts (services/accounts, api/accounts.py): username + password per person, records
    # per user, the /admin console and per-user quotas. Off: the two modes above.
    accounts: bool = False
    # Whoever has this code may create their own account on the login page. Unset: only
    # `python chat_app.py users add` and the console make accounts.
    signup_code: SecretStr | None = None
    # Tokens a user may use per day (prompt + reply, every route); unset = unlimited. An
    # admin's per-user figure in the console overrides it.
    user_daily_tokens: int | None = Field(default=None, ge=0)
    # Where a quota's day starts at midnight (an IANA name such as Asia/Shanghai); UTC by default.
    quota_timezone: str = "UTC"
    # CSP frame-ancestors: who may embed the page in a frame ('self', or a Teams tab's hosts).
    frame_ancestors: str = "'self'"
    # The page as a Microsoft Teams tab (api/security.py): Teams and Microsoft 365 hosts may
    # frame it (besides FRAME_ANCESTORS), and its cookies are `SameSite=None; Secure; Partitioned`.
    teams_tab: bool = False

    # Abuse limits (api/limits.py), per client IP. Unset: unlimited.
    max_request_per_hour: int | None = Field(default=None, ge=1)
    max_concurrent_streams: int | None = Field(default=None, ge=1)
    # How many proxies in front of the app append to X-Forwarded-For (Render and nginx: 1).
    # 0 trusts none, so a client cannot pick its own IP with a forged header.
    trusted_proxies: int = Field(default=0, ge=0, le=10)
    # memory:// counts per process; redis://host:6379 shares limits between workers/instances.
    ratelimit_storage_uri: str = "memory://"

    # The .env file these settings were read from (set by load_settings, not by a variable).
    env_file: str | None = Field(default=None, validation_alias=AliasChoices("env_file"))

    @field_validator(
        "openai_api_key",
        "openai_base_url",
        "azure_openai_endpoint",
        "azure_openai_api_key",
        "providers_file",
        "gateway_api_keys",
        "persona_lock",
        "access_password",
        "signup_code",
        mode="before",
    )
    @classmethod
    def _strip(cls, value: object) -> object:
        # A key pasted with a stray space or newline would fail upstream as "invalid key".
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    @field_validator("quota_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        # A typo would otherwise move every user's reset silently; say so at start-up.
        value = value.strip() or "UTC"
        if value.upper() == "UTC":
            return "UTC"
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. UTC, Asia/Shanghai)") from None
        return value

    @field_validator("frame_ancestors", mode="before")
    @classmethod
    def _quote_keywords(cls, value: object) -> object:
        # `FRAME_ANCESTORS=self` (quotes lost to a shell or .env parser) would name a host
        # called "self" and block the app's own frames.
        if isinstance(value, str):
            words = value.split() or ["'self'"]
            return " ".join(f"'{w}'" if w.lower() in ("self", "none") else w for w in words)
        return value

    @property
    def uses_custom_endpoint(self) -> bool:
        """True when the upstream is not the official OpenAI API (Ollama, vLLM, a gateway...)."""
        return bool(self.openai_base_url) and self.openai_base_url.rstrip("/") != OFFICIAL_BASE_URL

    def variable(self, name: str) -> str | None:
        """Any variable by name, from the environment or else the .env file (providers name
        the variable that holds their key)."""
        value = os.environ.get(name)
        if value is None and self.env_file and os.path.exists(self.env_file):
            value = dotenv_values(self.env_file).get(name)
        value = (value or "").strip()
        return value or None

    @property
    def model_mapper(self) -> dict[str, str]:
        """AZURE_OPENAI_MODEL_MAPPER as {model: deployment}; a malformed pair is an error."""
        mapping = {}
        for pair in filter(None, (p.strip() for p in self.azure_openai_model_mapper.split(","))):
            model, sep, deployment = (part.strip() for part in pair.partition("="))
            if not sep or not model or not deployment:
                raise ValueError(
                    f"AZURE_OPENAI_MODEL_MAPPER: '{pair}' is not model=deployment "
                    "(example: gpt-4o=my-gpt4o,gpt-35-turbo=xc-gpt-35)"
                )
            mapping[model] = deployment
        return mapping

    @property
    def gateway_keys(self) -> list[str]:
        """Bearer tokens the gateway accepts; empty means the gateway is off."""
        if self.gateway_api_keys is None:
            return []
        raw = self.gateway_api_keys.get_secret_value()
        return [key.strip() for key in raw.split(",") if key.strip()]

    @property
    def access_passwords(self) -> list[str]:
        """Passwords that open the page; empty means no login is asked for."""
        if self.access_password is None:
            return []
        raw = self.access_password.get_secret_value()
        return [word.strip() for word in raw.split(",") if word.strip()]

    @property
    def upstream_timeout(self) -> float:
        """Seconds the upstream may take to connect or to send the next chunk."""
        return self.timeout_ms / 1000 if self.timeout_ms else self.openai_timeout

    @property
    def proxy(self) -> str | None:
        """The proxy for upstream traffic in `local` mode; otherwise httpx honours HTTPS_PROXY."""
        return self.local_proxy if self.use_local_proxy else None


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (and `.env`), with explicit overrides on top.

    `CHAT_ENV_FILE` names another env file; set it empty to read none (the tests do, so a
    developer's own `.env` cannot leak into them).
    """
    env_file = os.environ.get("CHAT_ENV_FILE", ".env") or None
    return Settings(_env_file=env_file, env_file=env_file, **overrides)
