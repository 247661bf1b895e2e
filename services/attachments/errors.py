"""The one error of attachments (a leaf module, so every attachments module can raise it)."""

from __future__ import annotations

# English messages for the API (the page shows i18n's `attach.error.<code>` instead).
MESSAGES = {
    "empty": "The file is empty.",
    "too_large": "The file is larger than {limit_mb} MB.",
    "too_many": "At most {limit} files can be attached to one message.",
    "unsupported": "This type of file cannot be attached. Allowed: {allowed}.",
    "mismatch": "The file's content does not match its name ({name}).",
    "svg": "SVG images cannot be attached (they can carry scripts). Attach a PNG instead.",
    "too_many_pixels": "The image has too many pixels (more than {limit} million).",
    "corrupt": "The file is damaged and cannot be read.",
    "encrypted": "The file is protected by a password. Remove the password and attach it again.",
    "no_text": "This PDF has no text layer (it is probably a scan), so its text cannot be read.",
    "cut": "The upload ended before the whole file arrived. Try again.",
    "pending": "{limit} files are waiting to be sent. Send them or remove some first.",
    "missing": "That attachment is not available (it may have expired). Attach the file again.",
    "no_vision": "The model {model} cannot see images. Choose another model or remove the image.",
}


class AttachmentError(Exception):
    """A file that cannot be attached, said in plain words: `code` picks the message (i18n key
    `attach.error.<code>`; `message` is the English one the API answers with), `params` fill it
    in, `status` is the HTTP status (413 for an over-size file, else 400)."""

    def __init__(self, code: str, status: int | None = None, **params: object):
        self.code = code
        self.params = params
        if status is None:
            status = 413 if code == "too_large" else 400
        self.status = status
        super().__init__(self.message)

    @property
    def message(self) -> str:
        template = MESSAGES.get(self.code, "The file cannot be attached.")
        try:
            return template.format(**self.params)
        except (KeyError, IndexError):
            return template.split("(")[0].strip()
