"""The one error of attachments, `services.attachments.kinds.AttachmentError`, under the name
the document readers import it by. One class, not two: the upload route catches that one, so a
document refused as encrypted, corrupt or empty is answered 400 with its code, not 500."""

from __future__ import annotations

from services.attachments.kinds import AttachmentError

__all__ = ["AttachmentError"]
