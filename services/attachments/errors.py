"""The one error of attachments (a leaf module, so every attachments module can raise it)."""

from __future__ import annotations


class AttachmentError(Exception):
    """A file that cannot be attached, said in plain words: `code` picks the message (i18n key
    `attach.error.<code>`), `params` fill it in, `status` is what the API answers with."""

    def __init__(self, code: str, status: int | None = None, **params):
        super().__init__(code)
        self.code = code
        self.params = params
        if status is None:
            status = 413 if code == "too_large" else 400
        self.status = status
