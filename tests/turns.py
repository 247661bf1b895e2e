"""Thread entries and chat services for tests that plan turns (services/plan.py).

Entries are shaped as the page stores them (services/conversation.py).
"""

from __future__ import annotations

from pathlib import Path

from config import Settings
from services.chat import ChatService

# Nothing listens there: planning never calls the model.
NOWHERE = "http://127.0.0.1:9/v1"
MODEL = "gpt-4o-mini"
USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}


def user(text: str, **extra) -> dict:
    return {"role": "user", "content": text, **extra}


def reply(text: str, status: str = "done") -> dict:
    return {"role": "assistant", "content": text, "model": MODEL, "usage": USAGE, "status": status}


def error(kind: str = "timeout") -> dict:
    return {"role": "error", "kind": kind, "detail": ""}


def service(**overrides: object) -> ChatService:
    values: dict = {"openai_api_key": "k", "openai_base_url": NOWHERE}
    values.update(overrides)
    return ChatService(Settings(_env_file=None, **values))


def window_service(directory: Path, window: int = 600, **overrides: object) -> ChatService:
    """The default model with a context window of `window` tokens, set by a providers file."""
    path = directory / f"providers-{window}.yaml"
    path.write_text(
        "providers:\n"
        "  - id: local\n"
        "    kind: compatible\n"
        f"    base_url: {NOWHERE}\n"
        "    api_key_env: OPENAI_API_KEY\n"
        "    models:\n"
        f"      - {{id: {MODEL}, context_window: {window}}}\n"
        "      - {id: other-model}\n"
        f"default_model: {MODEL}\n",
        encoding="utf-8",
    )
    return service(providers_file=str(path), **overrides)
