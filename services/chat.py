"""Talk to the Chat Completions API: one streamed or whole reply per call."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import openai

from config import Settings
from services.errors import ChatError, classify, missing_key_error
from services.llm_client import build_client

log = logging.getLogger(__name__)


class ChatService:
    """The app's single way to ask the model something. Holds one pooled SDK client."""

    def __init__(self, settings: Settings, client: openai.OpenAI | None = None):
        self.settings = settings
        self._client = client or build_client(settings)

    @property
    def models(self) -> list[str]:
        """Models a request may name; anything else is refused so clients cannot pick freely."""
        return [self.settings.openai_model]

    def _request_args(self, messages: list[dict], model: str | None, temperature: float | None):
        if not self.settings.has_credentials:
            raise missing_key_error()
        args = {"model": model or self.settings.openai_model, "messages": messages}
        if temperature is None:
            temperature = self.settings.openai_temperature
        if temperature is not None:
            args["temperature"] = temperature
        return args

    def _open_stream(self, args: dict):
        try:
            return self._client.chat.completions.create(
                **args, stream=True, stream_options={"include_usage": True}
            )
        except openai.BadRequestError as exc:
            # Some compatible servers reject stream_options: usage is optional, a reply is not.
            if "stream_options" not in str(exc):
                raise
            log.info("upstream rejected stream_options; streaming without usage")
            return self._client.chat.completions.create(**args, stream=True)

    def stream(
        self, messages: list[dict], *, model: str | None = None, temperature: float | None = None
    ) -> Iterator[dict]:
        """Yield `{"delta": text}` events, then exactly one final event.

        The final event is `{"done": True, "usage": ..., "finish_reason": ...}` or
        `{"error": {...}}`. Closing this generator early (the browser went away) closes the
        upstream response too, so the model stops generating for nobody.
        """
        try:
            stream = self._open_stream(self._request_args(messages, model, temperature))
        except Exception as exc:
            yield {"error": classify(exc).to_dict()}
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
            error = classify(exc)
            if error.kind in ("connection_error", "internal_error"):
                error = ChatError("stream_cut", "The connection to the model was cut.", 502)
            yield {"error": error.to_dict()}
            return

        if finish_reason is None:
            # The body ended cleanly but the model never said it had finished: a cut reply.
            yield {
                "error": ChatError(
                    "stream_cut", "The reply stopped before it was complete."
                ).to_dict()
            }
        elif finish_reason == "content_filter":
            yield {
                "error": ChatError(
                    "content_filter", "The reply was stopped by a content filter."
                ).to_dict()
            }
        else:
            yield {"done": True, "usage": usage, "finish_reason": finish_reason}

    def complete(
        self, messages: list[dict], *, model: str | None = None, temperature: float | None = None
    ) -> dict:
        """One whole reply: `{"reply", "usage", "finish_reason"}`; raises ChatError."""
        try:
            response = self._client.chat.completions.create(
                **self._request_args(messages, model, temperature)
            )
        except Exception as exc:
            raise classify(exc) from exc
        choice = response.choices[0] if response.choices else None
        if choice is None:
            raise ChatError("upstream_error", "The model returned no answer.")
        if choice.finish_reason == "content_filter":
            raise ChatError("content_filter", "The reply was stopped by a content filter.", 400)
        return {
            "reply": choice.message.content or "",
            "usage": response.usage.model_dump(exclude_none=True) if response.usage else None,
            "finish_reason": choice.finish_reason,
        }
