"""The connection check: one tiny request per provider, reported without secrets."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from services.chat import ChatService
from services.errors import ChatError


def check_providers(service: ChatService) -> list[dict]:
    """For every provider: OK with the latency, or the exact failure, checked in parallel.

    Each provider is asked through its first model, which is enough to prove the endpoint,
    the key, the api-version and (on Azure) the deployment name.
    """
    providers = service.registry.config.providers
    with ThreadPoolExecutor(max_workers=min(8, len(providers))) as pool:
        return list(pool.map(lambda provider: _check(service, provider), providers))


def _check(service: ChatService, provider) -> dict:
    model = provider.models[0].id
    result = {
        "id": provider.id,
        "name": provider.name or provider.id,
        "kind": provider.kind,
        "model": model,
        "ok": False,
    }
    started = time.perf_counter()
    try:
        service.ping(model)
    except ChatError as error:
        result["error"] = error.to_dict()
        return result
    result["ok"] = True
    result["latency_ms"] = round((time.perf_counter() - started) * 1000)
    return result
