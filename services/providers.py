"""Where models come from: OpenAI, Azure OpenAI and OpenAI-compatible endpoints.

Without a providers file, the environment defines one provider (Azure when
AZURE_OPENAI_ENDPOINT is set, else OpenAI or the endpoint in OPENAI_BASE_URL). A providers file
(`PROVIDERS_FILE`, YAML) names several, for example GPT-4o on Azure and llama3 on Ollama:

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
          - {id: llava, vision: true}   # takes images (unset: known names do, see vision.py)
    default_model: gpt-4o

Model ids are what users pick and API clients send; they are unique across providers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import openai
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config import Settings
from services.llm_client import build_client
from services.vision import sees_images_by_name
from services.yaml_config import load_yaml_model

Kind = Literal["openai", "azure", "compatible"]


class ModelSpec(BaseModel):
    """One model a provider offers."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    name: str | None = None
    # Azure: the deployment that serves this model; elsewhere the upstream model name if it
    # differs from `id`.
    deployment: str | None = None
    # Tokens the model can take in, when the built-in table does not know it.
    context_window: int | None = Field(default=None, gt=0)
    # Whether it takes images; unset: the provider's `vision`, else by its name
    # (services/vision.py).
    vision: bool | None = None

    @property
    def upstream(self) -> str:
        return self.deployment or self.id


class ProviderSpec(BaseModel):
    """One upstream service and the models it serves."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    kind: Kind
    name: str | None = None
    base_url: str | None = None
    endpoint: str | None = None
    api_version: str | None = None
    api_key_env: str | None = None
    # The default of its models' `vision` (a self-hosted server of vision models, say).
    vision: bool | None = None
    models: list[ModelSpec] = Field(min_length=1)

    @field_validator("api_version", mode="before")
    @classmethod
    def _date_is_a_version(cls, value: object) -> object:
        # YAML reads an unquoted `api_version: 2024-10-21` as a date.
        return value.isoformat() if isinstance(value, date) else value

    @model_validator(mode="after")
    def _fits_kind(self) -> ProviderSpec:
        if self.kind == "azure" and not self.endpoint:
            raise ValueError("an azure provider needs 'endpoint'")
        if self.kind == "azure" and not self.api_version:
            raise ValueError("an azure provider needs 'api_version'")
        if self.kind == "compatible" and not self.base_url:
            raise ValueError("a compatible provider needs 'base_url'")
        if self.kind != "azure" and self.endpoint:
            raise ValueError("'endpoint' is for azure providers; use 'base_url'")
        return self


class ProvidersConfig(BaseModel):
    """The whole providers file."""

    model_config = ConfigDict(extra="forbid")
    providers: list[ProviderSpec] = Field(min_length=1)
    default_model: str | None = None

    def problem(self) -> tuple[tuple, str] | None:
        """The first cross-provider mistake, as (location, message), or None.

        Kept out of pydantic validation so the location can point at the offending line.
        """
        seen_providers: set[str] = set()
        seen_models: set[str] = set()
        for i, provider in enumerate(self.providers):
            if provider.id in seen_providers:
                return ("providers", i, "id"), f"provider id '{provider.id}' is used twice"
            seen_providers.add(provider.id)
            for j, model in enumerate(provider.models):
                if model.id in seen_models:
                    return (
                        ("providers", i, "models", j, "id"),
                        f"model id '{model.id}' is used twice",
                    )
                seen_models.add(model.id)
        if self.default_model and self.default_model not in seen_models:
            return ("default_model",), f"'{self.default_model}' is not a listed model"
        return None


class ProvidersFileError(ValueError):
    """A providers file that cannot be used; the message names the file and the line."""


def load_providers_file(path: str | Path) -> ProvidersConfig:
    """Read and validate a providers file; raises ProvidersFileError naming the bad line."""
    return load_yaml_model(
        path,
        ProvidersConfig,
        error_cls=ProvidersFileError,
        what="providers file",
        extra_check=ProvidersConfig.problem,
    )


def providers_from_env(settings: Settings) -> ProvidersConfig:
    """The single provider the environment describes."""
    if settings.azure_openai_endpoint:
        mapper = settings.model_mapper
        models = [ModelSpec(id=m, deployment=d) for m, d in mapper.items()]
        if settings.openai_model not in mapper:
            models.insert(0, ModelSpec(id=settings.openai_model))
        provider = ProviderSpec(
            id="azure",
            kind="azure",
            name="Azure OpenAI",
            endpoint=settings.azure_openai_endpoint,
            api_version=settings.openai_api_version,
            api_key_env="AZURE_OPENAI_API_KEY",
            models=models,
        )
    else:
        custom = settings.uses_custom_endpoint
        provider = ProviderSpec(
            id="openai",
            kind="compatible" if custom else "openai",
            name="OpenAI-compatible" if custom else "OpenAI",
            base_url=settings.openai_base_url if custom else None,
            api_key_env="OPENAI_API_KEY",
            models=[ModelSpec(id=settings.openai_model)],
        )
    return ProvidersConfig(providers=[provider], default_model=settings.openai_model)


def load_providers(settings: Settings) -> ProvidersConfig:
    """The providers file when PROVIDERS_FILE is set, else the environment's one provider."""
    if settings.providers_file:
        return load_providers_file(settings.providers_file)
    return providers_from_env(settings)


@dataclass(frozen=True)
class Route:
    """How to reach one model: which client, which upstream name, whose key."""

    model: ModelSpec
    provider: ProviderSpec
    client: openai.OpenAI
    has_credentials: bool

    @property
    def key_variable(self) -> str:
        return self.provider.api_key_env or "OPENAI_API_KEY"


def _secret(settings: Settings, provider: ProviderSpec) -> str | None:
    # The environment's own provider uses the typed settings (which also read .env).
    if provider.api_key_env == "OPENAI_API_KEY" and settings.openai_api_key:
        return settings.openai_api_key.get_secret_value()
    if provider.api_key_env == "AZURE_OPENAI_API_KEY" and settings.azure_openai_api_key:
        return settings.azure_openai_api_key.get_secret_value()
    return settings.variable(provider.api_key_env) if provider.api_key_env else None


class ProviderRegistry:
    """Every configured model, each with the pooled client that reaches it."""

    def __init__(self, config: ProvidersConfig, settings: Settings, client_factory=None):
        factory = client_factory or build_client
        self.config = config
        self._routes: dict[str, Route] = {}
        self.secrets: list[str] = []
        for provider in config.providers:
            key = _secret(settings, provider)
            if key:
                self.secrets.append(key)
            # A self-hosted endpoint often needs no key; OpenAI and Azure always do.
            usable = bool(key) or provider.kind == "compatible"
            client = factory(provider, key, settings)
            for model in provider.models:
                self._routes[model.id] = Route(model, provider, client, usable)
        self.default_model = config.default_model or config.providers[0].models[0].id

    @classmethod
    def from_settings(cls, settings: Settings) -> ProviderRegistry:
        return cls(load_providers(settings), settings)

    @property
    def model_ids(self) -> list[str]:
        return list(self._routes)

    @property
    def has_credentials(self) -> bool:
        """Whether any model can be asked at all (else the page explains how to set a key)."""
        return any(route.has_credentials for route in self._routes.values())

    def sees_images(self, model_id: str | None) -> bool:
        """Whether the model takes images: the providers file's word, else its name's."""
        route = self.route(model_id)
        for said in (route.model.vision, route.provider.vision):
            if said is not None:
                return said
        return sees_images_by_name(route.model.upstream) or sees_images_by_name(route.model.id)

    @property
    def vision_models(self) -> list[str]:
        """The ids of the models that take images (the page refuses an image to the others)."""
        return [model_id for model_id in self._routes if self.sees_images(model_id)]

    def route(self, model_id: str | None) -> Route:
        """The route for `model_id` (the default when None); KeyError when not configured."""
        return self._routes[model_id or self.default_model]

    def options(self) -> list[dict]:
        """Model choices grouped by provider, for the picker."""
        return [
            {
                "group": provider.name or provider.id,
                "options": [{"label": m.name or m.id, "value": m.id} for m in provider.models],
            }
            for provider in self.config.providers
        ]
