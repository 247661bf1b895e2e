"""SECRET_KEY: what signs the app's cookies and links (the page, and the terminal chat's /link)."""

from __future__ import annotations

import secrets
from pathlib import Path


def load_secret(configured: str | None, data_dir: Path) -> str:
    """SECRET_KEY, else one generated once and kept under data/ so restarts keep identities.

    Several instances must share one SECRET_KEY (set it in the environment).
    """
    if configured:
        return configured
    path = data_dir / "secret_key"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        # Create-exclusive: if another worker wrote it first, use theirs.
        try:
            with path.open("x", encoding="utf-8") as file:
                file.write(secret)
            path.chmod(0o600)
        except FileExistsError:
            return path.read_text(encoding="utf-8").strip()
        return secret
