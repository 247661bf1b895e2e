"""The per-app objects that callbacks and routes share, kept on the Flask server."""

from __future__ import annotations

from flask import Flask, current_app

from services.chat import ChatService

KEY = "chat_service"


def init_app(server: Flask, service: ChatService) -> None:
    """Attach `service` to `server` (one per app, so tests can run apps with other settings)."""
    server.extensions[KEY] = service


def chat_service() -> ChatService:
    """The ChatService of the app handling the current request."""
    return current_app.extensions[KEY]
