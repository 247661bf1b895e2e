"""What the page sends for a new question: persona, history, and what fits the context."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from services.chat import ChatService
from services.context import Fitted, reply_budget
from services.conversation import build_upstream_messages, complete_rounds, with_text_before
from services.personas import CUSTOM_ID, system_prompt
from services.tokens import context_window, count_messages

# The most of a window a question's documents take, in tokens, however large the window:
# the best passages go, not whole books (a long context costs and slows every reply).
MAX_DOCUMENT_TOKENS = 24_000


@dataclass(frozen=True)
class TurnAttachments:
    """What a question's attachments add to its request (built by services/attachments/turn.py,
    every id already checked to be the caller's)."""

    # The question's own image parts (`{"type": "image_url", ...}`).
    images: tuple[dict, ...] = ()
    # An earlier question's image parts, from its entry's `attachments`.
    earlier_images: Callable[[dict], list[dict]] | None = None
    # (question, token budget) -> the conversation's documents as context for it ("" none).
    documents: Callable[[str, int], str] | None = None


class Plan(BaseModel):
    """One request, planned and fitted to the model's window once: ready to send as is."""

    model_config = ConfigDict(frozen=True)

    model: str
    # {"role", "content"}: the persona's system prompt, the kept rounds, the question (content
    # parts when a question has images).
    messages: list[dict]
    # Index (in the history, counting the new question) of the first entry the model sees;
    # entries before it are shown as outside the context. 0 when everything fits.
    context_from: int = 0
    temperature: float | None = None
    # Complete rounds of the history left out (over the round cap or the window).
    dropped_rounds: int = 0

    @property
    def fitted(self) -> Fitted:
        """The messages as ChatService.stream and .complete take them without fitting again."""
        return Fitted(self.messages, self.dropped_rounds)


def persona_prompt(service: ChatService, persona_id: str | None, custom: str | None, lang: str):
    """(system prompt, persona temperature) for a picked persona; a lock overrides both."""
    if service.locked_persona is not None:
        persona = service.locked_persona
    elif persona_id == CUSTOM_ID:
        return (custom or "").strip() or None, None
    else:
        persona = service.personas.get(persona_id) or service.personas.default_persona
    return system_prompt(persona, lang) or None, persona.temperature


def plan_request(
    service: ChatService,
    history: list[dict],
    question: str,
    *,
    multi_turn: bool,
    model: str | None,
    persona_id: str | None,
    custom_prompt: str | None,
    lang: str,
    max_tokens: int | None,
    attachments: TurnAttachments | None = None,
) -> Plan:
    """Build the upstream messages for `question` asked after `history`."""
    model = model if model in service.models else service.default_model
    prompt, temperature = persona_prompt(service, persona_id, custom_prompt, lang)
    max_rounds = service.settings.max_history_rounds
    attachments = attachments or TurnAttachments()
    # A text-only model is never sent images (the route refuses a question's own images to
    # it; an earlier question's stay out when the conversation moved to such a model).
    vision = service.sees_images(model)
    messages = build_upstream_messages(
        history,
        question,
        multi_turn=multi_turn,
        max_rounds=max_rounds,
        system_prompt=prompt,
        images=attachments.images if vision else (),
        earlier_images=attachments.earlier_images if vision else None,
    )
    # The only fit of a page turn: the service sends the plan as it is (see `Plan.fitted`).
    fitted = service.prepare(messages, model=model, max_tokens=max_tokens, lang=lang)
    if attachments.documents is not None:
        fitted = _with_documents(
            service, fitted, question, attachments.documents, model, max_tokens
        )

    context_from = dropped = 0
    if multi_turn:
        rounds = complete_rounds(history)
        kept = len(rounds[-max_rounds:] if max_rounds > 0 else []) - fitted.dropped_rounds
        dropped = len(rounds) - kept
        if kept < len(rounds):
            # The first round still sent marks where the model's view of the thread begins.
            first = rounds[len(rounds) - kept][0] if kept > 0 else None
            context_from = next(
                (i for i, entry in enumerate(history) if entry is first), len(history)
            )
    return Plan(
        model=model,
        messages=fitted.messages,
        context_from=context_from,
        temperature=temperature,
        dropped_rounds=dropped,
    )


def document_budget(
    service: ChatService, fitted: Fitted, model: str, max_tokens: int | None
) -> int:
    """Tokens the question's documents may take: half of what the model's window leaves after
    the fitted messages and the reply's room, at most MAX_DOCUMENT_TOKENS."""
    route = service.registry.route(model)
    window = context_window(route.model.id, route.model.context_window)
    left = window - reply_budget(window, max_tokens) - count_messages(fitted.messages, model)
    return max(0, min(MAX_DOCUMENT_TOKENS, left // 2))


def _with_documents(
    service: ChatService,
    fitted: Fitted,
    question: str,
    documents: Callable[[str, int], str],
    model: str,
    max_tokens: int | None,
) -> Fitted:
    """The fitted messages with the documents' context before the question's text. Only the
    current question carries it: each turn searches the documents again for its question."""
    budget = document_budget(service, fitted, model, max_tokens)
    context = documents(question, budget) if budget > 0 else ""
    if not context:
        return fitted
    *earlier, asked = fitted.messages
    asked = {**asked, "content": with_text_before(asked["content"], context)}
    return Fitted([*earlier, asked], fitted.dropped_rounds)


def plan_turn(
    service: ChatService,
    history: list[dict],
    question: str,
    *,
    history_start: int,
    multi_turn: bool,
    model: str | None,
    persona_id: str | None,
    custom_prompt: str | None,
    lang: str,
    max_tokens: int | None,
    attachments: TurnAttachments | None = None,
) -> Plan:
    """`plan_request` for the page, which sends only the newest part of its thread.

    `history` starts at index `history_start` of the page's thread (the page leaves out rounds
    beyond the round cap, see assets/chat.js); `context_from` is returned as an index of the
    whole thread, so the page dims the same entries as if it had sent them all.
    """
    plan = plan_request(
        service,
        history,
        question,
        multi_turn=multi_turn,
        model=model,
        persona_id=persona_id,
        custom_prompt=custom_prompt,
        lang=lang,
        max_tokens=max_tokens,
        attachments=attachments,
    )
    if not multi_turn:
        return plan
    return plan.model_copy(update={"context_from": history_start + plan.context_from})


def context_tokens(service: ChatService, history: list[dict], **choices) -> int:
    """Tokens the context part of the next request will take (all but the question).

    The page keeps this number after each reply and adds the question's own count while the
    user types (see callbacks/chat.py), so its size estimate needs no thread upload. `choices`
    are `plan_request`'s keyword arguments.
    """
    plan = plan_request(service, history, "", **choices)
    # The same request without history needs no fit of its own: it is the plan's system
    # messages and its (empty) question, which always go.
    bare = [m for m in plan.messages if m["role"] == "system"] + plan.messages[-1:]
    return count_messages(plan.messages, plan.model) - count_messages(bare, plan.model)


def next_history_start(thread: list[dict], max_rounds: int) -> int:
    """Where the part of `thread` that can still be context starts: the question of the oldest
    of the newest `max_rounds` complete rounds; 0 when all fit, the end when none may go.

    The page sends its thread from there (it keeps the number the last final event gave), so
    a request carries no more of the thread than the round cap lets through.
    """
    rounds = complete_rounds(thread)
    if len(rounds) <= max(0, max_rounds):
        return 0
    if max_rounds <= 0:
        return len(thread)
    first = rounds[-max_rounds][0]
    return next(i for i, entry in enumerate(thread) if entry is first)
