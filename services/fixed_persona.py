"""A conversation keeps the persona it started with (issue 15).

The persona, and a custom persona's own prompt, are stored with the conversation when its first
question is (api/page_turn.py). Every later turn uses the stored one whatever the request names,
and a request that names another one is refused: answering as someone else than the page shows,
or than the records say, is what the user must never get. `PERSONA_LOCK` wins over both.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.personas import CUSTOM_ID


@dataclass(frozen=True)
class PersonaChoice:
    """A persona id, and for the custom persona the system prompt the user wrote."""

    persona: str
    custom_prompt: str | None = None

    @property
    def stored_prompt(self) -> str | None:
        """What the records keep as the conversation's own prompt (custom persona only)."""
        return self.custom_prompt if self.persona == CUSTOM_ID else None


class PersonaChanged(Exception):
    """A request named another persona than the one its conversation was started with."""

    kind = "persona_changed"
    status = 409

    def __init__(self, fixed: PersonaChoice):
        super().__init__(fixed.persona)
        self.fixed = fixed

    @property
    def message(self) -> str:
        return (
            "This conversation keeps the persona it was started with "
            f"('{self.fixed.persona}'). Start a new chat to talk to another persona."
        )


def chosen(service, persona_id: str | None, custom_prompt: str | None) -> PersonaChoice:
    """What a choice of persona amounts to: the lock wins; an unknown id (or none) is the
    default persona; the custom persona carries its prompt, without surrounding blanks."""
    if service.locked_persona is not None:
        return PersonaChoice(service.locked_persona.id)
    if persona_id == CUSTOM_ID:
        return PersonaChoice(CUSTOM_ID, (custom_prompt or "").strip())
    persona = service.personas.get(persona_id) or service.personas.default_persona
    return PersonaChoice(persona.id)


def fixed(service, record: dict | None) -> PersonaChoice | None:
    """The persona a conversation's record (`fixed_persona` of the records) holds it to, or
    None: no such conversation, no question yet, or none stored (an imported conversation)."""
    if not record or not record.get("started") or not record.get("persona"):
        return None
    return chosen(service, record["persona"], record.get("custom_prompt"))


def turn_persona(
    service, record: dict | None, persona_id: str | None, custom_prompt: str | None
) -> tuple[PersonaChoice, bool]:
    """(the persona a turn uses, whether the conversation must store it).

    `record` is the conversation's `fixed_persona`, None for a new conversation. A request
    that names a persona other than the stored one raises PersonaChanged; one that names
    none gets the stored one.
    """
    held = fixed(service, record)
    if held is None:
        return chosen(service, persona_id, custom_prompt), True
    if persona_id is not None and chosen(service, persona_id, custom_prompt) != held:
        raise PersonaChanged(held)
    return held, False
