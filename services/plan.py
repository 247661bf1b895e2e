"""What the page sends for a new question: persona, history, and what fits the context."""

from __future__ import annotations

from dataclasses import dataclass, replace

from services.chat import ChatService
from services.conversation import build_upstream_messages, complete_rounds
from services.personas import CUSTOM_ID, system_prompt
from services.tokens import count_messages


@dataclass(frozen=True)
class Plan:
    """One request, ready to send."""

    model: str
    messages: list[dict]
    # Index (in the history, counting the new question) of the first entry the model sees;
    # entries before it are shown as outside the context. 0 when everything fits.
    context_from: int
    temperature: float | None


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
) -> Plan:
    """Build the upstream messages for `question` asked after `history`."""
    model = model if model in service.models else service.default_model
    prompt, temperature = persona_prompt(service, persona_id, custom_prompt, lang)
    max_rounds = service.settings.max_history_rounds
    messages = build_upstream_messages(
        history, question, multi_turn=multi_turn, max_rounds=max_rounds, system_prompt=prompt
    )
    fitted = service.prepare(messages, model=model, max_tokens=max_tokens, lang=lang)

    context_from = 0
    if multi_turn:
        rounds = complete_rounds(history)
        kept = len(rounds[-max_rounds:] if max_rounds > 0 else []) - fitted.dropped_rounds
        if kept < len(rounds):
            # The first round still sent marks where the model's view of the thread begins.
            first = rounds[len(rounds) - kept][0] if kept > 0 else None
            context_from = next(
                (i for i, entry in enumerate(history) if entry is first), len(history)
            )
    return Plan(model, fitted.messages, context_from, temperature)


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
    )
    if not multi_turn:
        return plan
    return replace(plan, context_from=history_start + plan.context_from)


def context_tokens(service: ChatService, history: list[dict], **choices) -> int:
    """Tokens the context part of the next request will take (all but the question).

    The page keeps this number after each reply and adds the question's own count while the
    user types (see callbacks/chat.py), so its size estimate needs no thread upload. `choices`
    are `plan_request`'s keyword arguments.
    """
    with_history = plan_request(service, history, "", **choices)
    without = plan_request(service, [], "", **choices)
    model = with_history.model
    return count_messages(with_history.messages, model) - count_messages(without.messages, model)


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
