"""Talk to the Chat Completions API: one streamed or whole reply per call."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import openai

from config import Settings
from services import tokens
from services.cancel import Cancel, current_cancel, shut_down
from services.context import Fitted, fit, split_rounds
from services.errors import ChatError, classify, missing_key_error
from services.personas import PersonasConfig, load_personas, system_prompt
from services.pricing import PriceTable
from services.providers import ProviderRegistry, Route
from services.retry import Retries, call_with_retries, cause

log = logging.getLogger(__name__)


def max_tokens_name(kind: str) -> str:
    """The name a provider of `kind` takes a reply's token cap under. OpenAI's newer models
    only take max_completion_tokens; Azure api-versions and compatible servers reliably take
    max_tokens."""
    return "max_completion_tokens" if kind == "openai" else "max_tokens"


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
        self.personas: PersonasConfig = load_personas(settings.personas_file)
        self.prices = PriceTable.from_file(settings.prices_file)
        self.locked_persona = None
        if settings.persona_lock:
            self.locked_persona = self.personas.get(settings.persona_lock)
            if self.locked_persona is None:
                known = ", ".join(p.id for p in self.personas.personas)
                raise ValueError(
                    f"PERSONA_LOCK={settings.persona_lock} is not a persona in "
                    f"{settings.personas_file} (known: {known})"
                )

    @property
    def models(self) -> list[str]:
        """Models a request may name; anything else is refused so clients cannot pick freely."""
        return self.registry.model_ids

    @property
    def default_model(self) -> str:
        return self.registry.default_model

    def sees_images(self, model: str | None) -> bool:
        """Whether `model` (the default when None) takes images (services/vision.py)."""
        return self.registry.sees_images(model)

    @property
    def has_credentials(self) -> bool:
        return self.registry.has_credentials

    def route(self, model: str | None) -> Route:
        """The route for a configured model; raises ChatError for a model without a key."""
        route = self.registry.route(model)
        if not route.has_credentials:
            raise missing_key_error(route.key_variable)
        return route

    def enforce_persona(self, messages: list[dict], lang: str = "en") -> list[dict]:
        """With PERSONA_LOCK, the locked persona's system prompt replaces any the client sent.

        Every path to the upstream (page, API, gateway) goes through here, so a locked
        deployment cannot be talked out of its role by editing requests.
        """
        if self.locked_persona is None:
            return messages
        prompt = system_prompt(self.locked_persona, lang)
        # `developer` messages carry system authority on OpenAI's newer models: both go.
        instructions = ("system", "developer")
        return [{"role": "system", "content": prompt}] + [
            m for m in messages if not (isinstance(m, dict) and m.get("role") in instructions)
        ]

    def prepare(
        self, messages: list[dict], *, model: str | None, max_tokens: int | None, lang: str = "en"
    ) -> Fitted:
        """The messages that go upstream: persona enforced, rounds capped, fitted to the window."""
        route = self.registry.route(model)
        return fit(
            self.enforce_persona(messages, lang),
            model=route.model.id,
            context_window=tokens.context_window(route.model.id, route.model.context_window),
            max_rounds=self.settings.max_history_rounds,
            max_tokens=max_tokens,
        )

    def _fitted(
        self, messages: list[dict] | Fitted, *, model: str | None, max_tokens: int | None, lang: str
    ) -> Fitted:
        """`messages` as they go upstream: fitted here, or as already planned and fitted."""
        if isinstance(messages, Fitted):
            # A plan (services/plan.py) carries the lock's prompt already. Enforcing it again
            # costs no count, and keeps every path to the upstream going through the lock.
            return Fitted(self.enforce_persona(messages.messages, lang), messages.dropped_rounds)
        return self.prepare(messages, model=model, max_tokens=max_tokens, lang=lang)

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
            args[max_tokens_name(route.provider.kind)] = sampling.max_tokens
        return args

    @staticmethod
    def _open_stream(client: openai.OpenAI, args: dict):
        try:
            return client.chat.completions.create(
                **args, stream=True, stream_options={"include_usage": True}
            )
        except openai.BadRequestError as exc:
            # Some compatible servers reject stream_options: usage is optional, a reply is not.
            if "stream_options" not in str(exc):
                raise
            log.info("upstream rejected stream_options; streaming without usage")
            return client.chat.completions.create(**args, stream=True)

    def _with_context_retry(self, fitted: Fitted, send):
        """`send(messages)`; on "context too long", once more without the older half.

        Returns (result, the Fitted actually sent, whether it was retried).
        """
        try:
            return send(fitted.messages), fitted, False
        except Exception as exc:
            error = self._classify(exc)
            system, rounds = split_rounds(fitted.messages)
            if error.kind != "context_too_long" or len(rounds) < 2:
                raise error from exc
            earlier = rounds[:-1]
            # Drop the older half (at least one round), keep the newer half and the question.
            keep = earlier[(len(earlier) + 1) // 2 :]
            smaller = system + [m for r in [*keep, rounds[-1]] for m in r]
            retry = Fitted(smaller, fitted.dropped_rounds + len(earlier) - len(keep))
            log.info(
                "context too long upstream; retrying with %d rounds fewer", retry.dropped_rounds
            )
            return send(smaller), retry, True

    def stream(
        self,
        messages: list[dict] | Fitted,
        *,
        model: str | None = None,
        sampling: Sampling = Sampling(),
        lang: str = "en",
        cancel: Cancel | None = None,
    ) -> Iterator[dict]:
        """Yield `{"delta": text}` events, then exactly one final event.

        The final event is `{"done": True, "usage", "finish_reason", "model", "context"}` or
        `{"error": {...}}`. `context.dropped_rounds` says how many earlier rounds were left out
        to fit the model's window; `context.retried`, that the upstream still found it too long
        and one retry with less history succeeded. Usage is the upstream's; when it sends none,
        a local count marked `"estimated": true`.

        `messages` as a list are fitted to the model's window (after the persona lock); as a
        `Fitted` (a page turn's `Plan.fitted`) they were fitted when planned and go as they
        are, the lock still enforced. Either way `dropped_rounds` counts every round left out.

        A failure before the first text (429, 5xx, a refused or dropped connection, a timeout,
        a stream that opened and broke, an error event) is retried up to OPENAI_MAX_RETRIES
        times, with bounded waits (services/retry.py). After the first text nothing is
        retried: that would send the user a second, different reply; the error event ends the
        partial one instead.

        Closing this generator early closes the upstream response too, so the model stops
        generating for nobody. `cancel` (by default the one set by `cancel_scope`) does the same
        from another thread, even while a read is blocked; a cancelled stream yields nothing more.
        """
        cancel = cancel or current_cancel() or Cancel()
        try:
            route = self.route(model)
            fitted = self._fitted(messages, model=model, max_tokens=sampling.max_tokens, lang=lang)
        except Exception as exc:
            yield {"error": self._classify(exc).to_dict()}
            return

        # Clients never retry by themselves (services/retry.py says why): this loop does.
        retries = Retries(self.settings.openai_max_retries)
        retried = False
        parts: list[str] = []
        while True:
            usage = None
            finish_reason = None
            failure: BaseException | None = None
            try:
                stream, fitted, retried_now = self._with_context_retry(
                    fitted,
                    lambda sent: self._open_stream(
                        route.client, self._request_args(route, sent, sampling)
                    ),
                )
            except Exception as exc:
                # _with_context_retry raises a ChatError from the SDK's exception, which holds
                # what the retry decision needs (status, Retry-After).
                failure = cause(exc)
                error = self._classify(exc)
            else:
                retried = retried or retried_now
                try:
                    with stream, cancel.on_cancel(functools.partial(shut_down, stream)):
                        for chunk in stream:
                            if cancel.cancelled:
                                return
                            if chunk.usage is not None:
                                usage = chunk.usage.model_dump(exclude_none=True)
                            # Azure sends chunks with no choices (prompt filter results).
                            for choice in chunk.choices:
                                if choice.delta is not None and choice.delta.content:
                                    parts.append(choice.delta.content)
                                    yield {"delta": choice.delta.content}
                                if choice.finish_reason:
                                    finish_reason = choice.finish_reason
                except Exception as exc:
                    failure = exc
                    error = self._classify(exc)
                    if error.kind in ("connection_error", "internal_error"):
                        error = ChatError("stream_cut", "The connection to the model was cut.", 502)
                else:
                    if finish_reason is not None:
                        break
                    # The body ended cleanly but the model never said it had finished: a cut.
                    error = ChatError("stream_cut", "The reply stopped before it was complete.")

            if cancel.cancelled:
                return  # nobody is listening: no final event (a recorder keeps "stopped")
            # After the first text nothing is retried: that would be a second, different reply.
            wait = None if parts else retries.next_wait(failure, error)
            if wait is None:
                yield {"error": error.to_dict()}
                return
            if cancel.wait(wait):
                return

        if finish_reason == "content_filter":
            blocked = ChatError("content_filter", "The reply was stopped by a content filter.")
            yield {"error": blocked.to_dict()}
        else:
            yield {
                "done": True,
                "usage": usage or self._estimate(route, fitted.messages, "".join(parts)),
                "finish_reason": finish_reason,
                "model": route.model.id,
                "context": {"dropped_rounds": fitted.dropped_rounds, "retried": retried},
            }

    @staticmethod
    def _estimate(route: Route, sent: list[dict], reply: str) -> dict:
        """A local count for upstreams that report no usage (some compatible servers)."""
        prompt = tokens.count_messages(sent, route.model.id)
        completion = tokens.count_text(reply, route.model.id)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "estimated": True,
        }

    def ping(self, model: str, *, timeout: float = 15.0) -> None:
        """The smallest real request to `model` (one token); raises ChatError on failure."""
        try:
            route = self.route(model)
            args = self._request_args(
                route, [{"role": "user", "content": "ping"}], Sampling(max_tokens=1)
            )
            route.client.with_options(timeout=timeout).chat.completions.create(**args)
        except Exception as exc:
            raise self._classify(exc) from exc

    def complete(
        self,
        messages: list[dict] | Fitted,
        *,
        model: str | None = None,
        sampling: Sampling = Sampling(),
        lang: str = "en",
    ) -> dict:
        """One whole reply: `{"reply", "usage", "finish_reason", "model", "context"}`.

        Raises ChatError. Fitting (or a plan taken as it is), the persona lock, the context
        retry and the retries of a failed request are as in `stream`.
        """
        try:
            route = self.route(model)
            fitted = self._fitted(messages, model=model, max_tokens=sampling.max_tokens, lang=lang)
            response, fitted, retried = call_with_retries(
                lambda: self._with_context_retry(
                    fitted,
                    lambda sent: route.client.chat.completions.create(
                        **self._request_args(route, sent, sampling)
                    ),
                ),
                self.settings.openai_max_retries,
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
            "context": {"dropped_rounds": fitted.dropped_rounds, "retried": retried},
        }
