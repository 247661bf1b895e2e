"""The per-app objects that callbacks and routes share, kept on the Flask server."""

from __future__ import annotations

from flask import Flask, current_app

from services.chat import ChatService

KEY = "chat_service"
RECORDS = "chat_records"
JOURNAL = "chat_journal"
ACCOUNTS = "chat_accounts"


def init_app(server: Flask, service: ChatService, records=None, journal=None) -> None:
    """Attach `service` (and the records store and its journal, if on) to `server`, one set
    per app."""
    server.extensions[KEY] = service
    server.extensions[RECORDS] = records
    server.extensions[JOURNAL] = journal


def chat_service() -> ChatService:
    """The ChatService of the app handling the current request."""
    return current_app.extensions[KEY]


def records():
    """The server's conversation records, or None when RECORDS_ENABLED=false."""
    return current_app.extensions.get(RECORDS)


def journal():
    """The writer of streaming replies (services/records/journal.py), None with records off."""
    return current_app.extensions.get(JOURNAL)


def accounts():
    """The accounts (services/accounts), or None unless ACCOUNTS=true."""
    return current_app.extensions.get(ACCOUNTS)


# ---- per-user quotas (issue 17, services/quota.py)
QUOTA = "chat_quota"


def quota():
    """Usage rows and daily budgets (services/quota.Quota), None with records off."""
    return current_app.extensions.get(QUOTA)


# ---- attachments (issue 18, services/attachments/store.py)
ATTACHMENTS = "chat_attachments"


def attachments():
    """The attachments' store (services/attachments/store.AttachmentStore), None when
    MAX_ATTACHMENTS=0. With records off it keeps them in a scratch database for
    ATTACHMENT_TTL_HOURS."""
    return current_app.extensions.get(ATTACHMENTS)
