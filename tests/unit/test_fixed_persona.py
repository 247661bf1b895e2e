"""services.fixed_persona: a conversation keeps the persona it started with."""

from __future__ import annotations

import pytest

from services.fixed_persona import PersonaChanged, PersonaChoice, turn_persona
from tests.turns import service


def record(persona, custom_prompt=None, *, started=True) -> dict:
    return {"persona": persona, "custom_prompt": custom_prompt, "started": started}


@pytest.fixture(scope="module")
def svc():
    return service()  # the shipped personas.yaml


def test_a_new_conversation_takes_the_requested_persona(svc):
    assert turn_persona(svc, None, "wellness", None) == (PersonaChoice("wellness"), True)
    # None, or an id that is not offered, is the default persona.
    assert turn_persona(svc, None, None, None) == (PersonaChoice("general"), True)
    assert turn_persona(svc, None, "nobody", None) == (PersonaChoice("general"), True)


def test_an_existing_conversation_uses_its_stored_persona(svc):
    held = record("general")
    assert turn_persona(svc, held, "general", None) == (PersonaChoice("general"), False)
    # A request that names none gets the stored one.
    assert turn_persona(svc, record("teacher"), None, None) == (PersonaChoice("teacher"), False)


def test_another_persona_for_an_existing_conversation_is_refused(svc):
    with pytest.raises(PersonaChanged) as refused:
        turn_persona(svc, record("general"), "wellness", None)
    assert refused.value.fixed == PersonaChoice("general")
    assert "new chat" in refused.value.message
    with pytest.raises(PersonaChanged):
        turn_persona(svc, record("general"), "custom", "You are a pirate.")


def test_a_custom_prompt_is_fixed_with_its_conversation(svc):
    new, store = turn_persona(svc, None, "custom", "  You are a pirate.  ")
    assert (new, store) == (PersonaChoice("custom", "You are a pirate."), True)
    assert new.stored_prompt == "You are a pirate."
    assert PersonaChoice("teacher").stored_prompt is None
    held = record("custom", "You are a pirate.")
    assert turn_persona(svc, held, "custom", "You are a pirate. ")[0] == new
    with pytest.raises(PersonaChanged):
        turn_persona(svc, held, "custom", "You are a ninja.")
    with pytest.raises(PersonaChanged):
        turn_persona(svc, held, "general", None)


def test_a_conversation_without_a_stored_persona_or_a_question_takes_the_request(svc):
    # Imported conversations have none; an emptied one has no question yet.
    assert turn_persona(svc, record(None), "teacher", None) == (PersonaChoice("teacher"), True)
    empty = record("general", started=False)
    assert turn_persona(svc, empty, "wellness", None) == (PersonaChoice("wellness"), True)


def test_the_lock_wins_over_the_stored_and_the_requested_persona():
    locked = service(persona_lock="wellness")
    assert turn_persona(locked, record("general"), "teacher", None) == (
        PersonaChoice("wellness"),
        False,
    )
    assert turn_persona(locked, None, "custom", "Be a pirate.") == (PersonaChoice("wellness"), True)
