"""Talk to the Chat Completions API: one streamed or whole reply per call."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import openai

from config import Settings
from services.errors import ChatError, classify, missing_key_error
from services.providers import ProviderRegistry, Route

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sampling:
    """Per-request generation settings, already checked against the server's bounds."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None


class ChatService:
    """The app's single way to ask a model something. Holds one pooled client per provider."""

    def __init__(self, settings: Settings, registry: ProviderRegistry | None = None):
        self.settings = settings
        self.registry = registry or ProviderRegistry.from_settings(settings)

    @property
    def models(self) -> list[str]:
        """Models a request may name; anything else is refused so clients cannot pick freely."""
        return self.registry.model_ids

    @property
    def default_model(self) -> str:
        return self.registry.default_model

    @property
    def has_credentials(self) -> bool:
        return self.registry.has_credentials

    def route(self, model: str | None) -> Route:
        """The route for a configured model; raises ChatError for a model without a key."""
        route = self.registry.route(model)
        if not route.has_credentials:
            raise missing_key_error(route.key_variable)
        return route

    def _classify(self, exc: BaseException) -> ChatError:
        return classify(exc, self.registry.secrets)

    def _request_args(self, route: Route, messages: list[dict], sampling: Sampling) -> dict:
        args = {"model": route.model.upstream, "messages": messages}
        temperature = sampling.temperature
        if temperature is None:
            temperature = self.settings.openai_temperature
        if temperature is not None:
            args["temperature"] = temperature
        if sampling.top_p is not None:
            args["top_p"] = sampling.top_p
        if sampling.max_tokens is not None:
            # OpenAI's newer models only take max_completion_tokens; Azure api-versions and
            # compatible servers reliably take max_tokens.
            name = "max_completion_tokens" if route.provider.kind == "openai" else "max_tokens"
            args[name] = sampling.max_tokens
        return args

    @staticmethod
    def _open_stream(route: Route, args: dict):
        try:
            return route.client.chat.completions.create(
                **args, stream=True, stream_options={"include_usage": True}
            )
        except openai.BadRequestError as exc:
            # Some compatible servers reject stream_options: usage is optional, a reply is not.
            if "stream_options" not in str(exc):
                raise
            log.info("upstream rejected stream_options; streaming without usage")
            return route.client.chat.completions.create(**args, stream=True)

    def stream(
        self, messages: list[dict], *, model: str | None = None, sampling: Sampling = Sampling()
    ) -> Iterator[dict]:
        """Yield `{"delta": text}` events, then exactly one final event.

        The final event is `{"done": True, "usage": ..., "finish_reason": ..., "model": ...}` or
        `{"error": {...}}`. Closing this generator early (the browser went away) closes the
        upstream response too, so the model stops generating for nobody.
        """
        try:
            route = self.route(model)
            stream = self._open_stream(route, self._request_args(route, messages, sampling))
        except Exception as exc:
            yield {"error": self._classify(exc).to_dict()}
            return

        usage = None
        finish_reason = None
        try:
            with stream:
                for chunk in stream:
                    if chunk.usage is not None:
                        usage = chunk.usage.model_dump(exclude_none=True)
                    # Azure sends chunks with no choices (prompt filter results); skip them.
                    for choice in chunk.choices:
                        if choice.delta is not None and choice.delta.content:
                            yield {"delta": choice.delta.content}
                        if choice.finish_reason:
                            finish_reason = choice.finish_reason
        except Exception as exc:
            error = self._classify(exc)
            if error.kind in ("connection_error", "internal_error"):
                error = ChatError("stream_cut", "The connection to the model was cut.", 502)
            yield {"error": error.to_dict()}
            return

        if finish_reason is None:
            # The body ended cleanly but the model never said it had finished: a cut reply.
            cut = ChatError("stream_cut", "The reply stopped before it was complete.")
            yield {"error": cut.to_dict()}
        elif finish_reason == "content_filter":
            blocked = ChatError("content_filter", "The reply was stopped by a content filter.")
            yield {"error": blocked.to_dict()}
        else:
            yield {
                "done": True,
                "usage": usage,
                "finish_reason": finish_reason,
                "model": route.model.id,
            }

    def ping(self, model: str, *, timeout: float = 15.0) -> None:
        """The smallest real request to `model` (one token); raises ChatError on failure."""
        try:
            route = self.route(model)
            args = self._request_args(
                route, [{"role": "user", "content": "ping"}], Sampling(max_tokens=1)
            )
            route.client.with_options(timeout=timeout, max_retries=0).chat.completions.create(
                **args
            )
        except Exception as exc:
            raise self._classify(exc) from exc

    def complete(
        self, messages: list[dict], *, model: str | None = None, sampling: Sampling = Sampling()
    ) -> dict:
        """One whole reply: `{"reply", "usage", "finish_reason", "model"}`; raises ChatError."""
        try:
            route = self.route(model)
            response = route.client.chat.completions.create(
                **self._request_args(route, messages, sampling)
            )
        except Exception as exc:
            raise self._classify(exc) from exc
        choice = response.choices[0] if response.choices else None
        if choice is None:
            raise ChatError("upstream_error", "The model returned no answer.")
        if choice.finish_reason == "content_filter":
            raise ChatError("content_filter", "The reply was stopped by a content filter.", 400)
        return {
            "reply": choice.message.content or "",
            "usage": response.usage.model_dump(exclude_none=True) if response.usage else None,
            "finish_reason": choice.finish_reason,
            "model": route.model.id,
        }
