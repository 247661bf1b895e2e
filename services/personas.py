"""Personas: ready-made assistants (a name, an avatar, a system prompt, a greeting).

They come from a YAML file (`PERSONAS_FILE`, default `personas.yaml`; see the shipped file for
the format). Any text may be one string for every language or one per UI language:

    personas:
      - id: teacher
        avatar: 🧑‍🏫
        name: {en: Teacher, zh-cn: 辅导老师}
        system_prompt:
          en: |
            You are a patient tutor...
          zh-cn: |
            你是一位耐心的辅导老师……
        examples: {en: [Quiz me on fractions], zh-cn: [考考我分数]}
    default: teacher

Without the file, one built-in general assistant is offered. A bad file is an error naming the
file, the line and the field, like the providers file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from i18n import DEFAULT as DEFAULT_LANG
from i18n import LANGUAGES
from services.yaml_config import Problem, load_yaml_model

log = logging.getLogger(__name__)

# A plain string for every language, or one string per language code: {"en": ..., "zh-cn": ...}.
LocalizedText = str | dict[str, str]

# The id of a conversation whose system prompt the user wrote; no file may define it.
CUSTOM_ID = "custom"

_ID_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


def localized(value: LocalizedText | None, lang: str) -> str:
    """`value` in `lang`, else in English, else in the first language it has; None is ""."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return value.get(lang) or value.get(DEFAULT_LANG) or next(iter(value.values()), "")


def _as_text(value: object, *, required: bool) -> LocalizedText:
    """Check and tidy one localized text: surrounding whitespace goes (a `|` block ends with a
    newline); empty is refused when `required`, and always as one language's text."""
    if isinstance(value, str):
        value = value.strip()
        if required and not value:
            raise ValueError("must not be empty")
        return value
    if isinstance(value, dict):
        if not value:
            raise ValueError("give the text, or at least one language: {en: ..., zh-cn: ...}")
        tidy = {}
        for lang, text in value.items():
            if not isinstance(lang, str):
                raise ValueError(f"{lang!r} is not a language code (use {_codes()})")
            if not isinstance(text, str):
                raise ValueError(f"the '{lang}' text should be text (put it in quotes)")
            if not text.strip():
                raise ValueError(f"the '{lang}' text is empty (leave the language out instead)")
            tidy[lang] = text.strip()
        return tidy
    raise ValueError("should be text, or one text per language: {en: ..., zh-cn: ...}")


def _required_text(value: object) -> LocalizedText:
    return _as_text(value, required=True)


def _optional_text(value: object) -> LocalizedText:
    return "" if value is None else _as_text(value, required=False)


def _greeting(value: object) -> LocalizedText | None:
    return _optional_text(value) or None  # an empty greeting is no greeting


def _example_list(value: object, where: str = "") -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{where}should be a list of texts: - Explain ...")
    tidy = [item.strip() for item in value]
    if not all(tidy):
        raise ValueError(f"{where}has an empty example (leave it out instead)")
    return tidy


def _examples(value: object) -> list[str] | dict[str, list[str]]:
    """A list of example questions, or one list per language: {en: [...], zh-cn: [...]}."""
    if value is None:
        return []
    if isinstance(value, dict):
        if not value:
            raise ValueError("give the examples, or at least one language: {en: [...]}")
        for lang in value:
            if not isinstance(lang, str):
                raise ValueError(f"{lang!r} is not a language code (use {_codes()})")
        return {lang: _example_list(items, f"the '{lang}' list ") for lang, items in value.items()}
    return _example_list(value)


Text = Annotated[LocalizedText, BeforeValidator(_required_text)]
OptionalText = Annotated[LocalizedText, BeforeValidator(_optional_text)]
Greeting = Annotated[LocalizedText | None, BeforeValidator(_greeting)]
Examples = Annotated[list[str] | dict[str, list[str]], BeforeValidator(_examples)]


def _codes() -> str:
    return ", ".join(LANGUAGES)


class Persona(BaseModel):
    """One assistant users can pick."""

    model_config = ConfigDict(extra="forbid")
    id: str
    name: Text
    avatar: str = "🤖"
    description: OptionalText = ""
    system_prompt: Text
    greeting: Greeting = None
    # Example questions on the welcome screen (the generic ones when there are none).
    examples: Examples = Field(default_factory=list)
    # The model this persona uses; whether it is configured is checked where models are known.
    model: str | None = Field(default=None, min_length=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)

    @field_validator("id")
    @classmethod
    def _plain_id(cls, value: str) -> str:
        if not value or len(value) > 64 or not set(value) <= _ID_CHARS:
            raise ValueError(
                f"'{value}' is not a usable id: use up to 64 lowercase letters, digits, '-' "
                "and '_' (like clinic-assistant)"
            )
        return value

    @field_validator("avatar")
    @classmethod
    def _emoji(cls, value: str) -> str:
        value = value.strip()
        # An emoji may be several code points (👩‍⚕️ is four), but never a word or a URL.
        wordy = any(c.isspace() or (c.isascii() and c.isalpha()) for c in value)
        if not value or len(value) > 16 or wordy:
            raise ValueError(f"'{value}' is not an emoji; use one emoji, like 🩺")
        return value


class PersonasConfig(BaseModel):
    """The whole personas file."""

    model_config = ConfigDict(extra="forbid")
    personas: list[Persona] = Field(min_length=1)
    # The persona a new conversation starts with; the first one when not set.
    default: str | None = None

    def get(self, persona_id: str | None) -> Persona | None:
        """The persona with this id, or None."""
        return next((p for p in self.personas if p.id == persona_id), None)

    @property
    def default_persona(self) -> Persona:
        return self.get(self.default) or self.personas[0]

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.personas]

    def problem(self) -> Problem | None:
        """The first mistake across personas, as (location, message), or None.

        Kept out of pydantic validation so the location can point at the offending line.
        """
        seen: set[str] = set()
        for i, persona in enumerate(self.personas):
            if persona.id == CUSTOM_ID:
                return (
                    ("personas", i, "id"),
                    f"'{CUSTOM_ID}' is reserved for the user's own system prompt; "
                    "choose another id",
                )
            if persona.id in seen:
                return ("personas", i, "id"), f"persona id '{persona.id}' is used twice"
            seen.add(persona.id)
            for field in ("name", "description", "system_prompt", "greeting", "examples"):
                value = getattr(persona, field)
                for lang in value if isinstance(value, dict) else ():
                    if lang not in LANGUAGES:
                        return (
                            ("personas", i, field, lang),
                            f"unknown language '{lang}' (use {_codes()})",
                        )
        if self.default is not None and self.default not in seen:
            return ("default",), f"'{self.default}' is not a listed persona id"
        return None


class PersonasFileError(ValueError):
    """A personas file that cannot be used; the message names the file and the line."""


def builtin_personas() -> PersonasConfig:
    """What a deployment without a personas file offers: one general assistant."""
    general = Persona(
        id="general",
        name={"en": "General assistant", "zh-cn": "通用助手"},
        avatar="🤖",
        description={
            "en": "Answers questions, writes and edits text, explains ideas.",
            "zh-cn": "回答问题、撰写和修改文字、解释概念。",
        },
        system_prompt={
            "en": (
                "You are a helpful, honest assistant. Reply in the language the user writes "
                "in, unless they ask for another one. Be clear and concise, and use Markdown "
                "when it makes the answer easier to read. If a question is ambiguous, ask a "
                "short clarifying question first. If you are not sure of something, say so; "
                "never make up facts, quotes or sources."
            ),
            "zh-cn": (
                "你是一位乐于助人、诚实可靠的助手。用用户提问所用的语言回答，除非用户要求使用"
                "其他语言。回答清晰、简洁，在有助于阅读时使用 Markdown。问题含义不明确时，先简短"
                "地问清楚再回答。不确定的内容要如实说明，绝不编造事实、引文或出处。"
            ),
        },
    )
    return PersonasConfig(personas=[general], default="general")


def load_personas(path: str | Path) -> PersonasConfig:
    """The personas in `path`; the built-in general assistant when there is no such file.

    A file that exists but cannot be used raises PersonasFileError naming the line.
    """
    path = Path(path)
    if not path.exists():
        log.warning("no personas file at %s; offering the built-in general assistant", path)
        return builtin_personas()
    return load_yaml_model(
        path,
        PersonasConfig,
        error_cls=PersonasFileError,
        what="personas file",
        extra_check=PersonasConfig.problem,
    )


def examples(persona: Persona | None, lang: str) -> list[str]:
    """`persona`'s example questions in `lang` (else English, else its first language); []
    when it has none."""
    value = persona.examples if persona else []
    if isinstance(value, dict):
        return value.get(lang) or value.get(DEFAULT_LANG) or next(iter(value.values()), [])
    return list(value)


def system_prompt(persona: Persona, lang: str) -> str:
    """The instructions the model gets for `persona` when the user's UI is in `lang`."""
    return localized(persona.system_prompt, lang)
