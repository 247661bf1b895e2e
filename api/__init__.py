"""HTTP routes served by the Dash app's Flask server."""

from __future__ import annotations

from flask import Flask

from api.attachments import attachments_bp
from api.feedback import feedback_bp
from api.gateway import gateway_bp
from api.install import install_bp
from api.openapi import openapi_bp
from api.routes import bp
from api.running import running_bp
from api.terminal_link import terminal_link_bp


def register(server: Flask) -> None:
    """Mount the JSON/SSE API on `server` (its ChatService comes from `extensions`)."""
    server.register_blueprint(bp)
    server.register_blueprint(running_bp)
    server.register_blueprint(feedback_bp)  # 👍 / 👎 on replies (issue 17)
    server.register_blueprint(attachments_bp)  # images and documents (issue 18)
    # Always mounted: it answers 404 per request unless GATEWAY_API_KEYS is set.
    server.register_blueprint(gateway_bp)
    server.register_blueprint(openapi_bp)
    server.register_blueprint(install_bp)
    server.register_blueprint(terminal_link_bp)  # the terminal chat's link (issue 19)
