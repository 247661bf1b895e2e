"""Build the OpenAI SDK client the rest of the app talks through."""

from __future__ import annotations

import openai

from config import Settings

# The SDK insists on a key; self-hosted endpoints (Ollama, vLLM) accept any placeholder.
PLACEHOLDER_KEY = "not-needed"


def build_client(settings: Settings) -> openai.OpenAI:
    """One client per app: it pools connections, so later requests skip TCP and TLS setup."""
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else PLACEHOLDER_KEY
    http_client = None
    if settings.proxy:
        # `python chat_app.py local`: every upstream request goes through LOCAL_PROXY.
        http_client = openai.DefaultHttpxClient(proxy=settings.proxy)
    return openai.OpenAI(
        api_key=key,
        base_url=settings.openai_base_url or None,
        timeout=settings.openai_timeout,
        max_retries=settings.openai_max_retries,
        http_client=http_client,
    )
