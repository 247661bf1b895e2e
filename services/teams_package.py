"""The Microsoft Teams app package for the chat page as a personal tab (`teams-package`).

A Teams app is a zip of `manifest.json` and two icons: a 192x192 colour one and a 32x32 white
outline on transparency. The tab is a static personal tab whose page is the app itself; the
app serves it framed when TEAMS_TAB=true (api/security.py). Pure: settings in, bytes out.
"""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from PIL import Image
from pydantic import BaseModel, field_validator

from i18n import t

# The version learn.microsoft.com's manifest reference calls current (newer ones change nothing a
# static tab uses); Teams accepts every earlier one too.
MANIFEST_VERSION = "1.22"
SCHEMA_URL = (
    f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/"
    "MicrosoftTeams.schema.json"
)
LOCALIZATION_SCHEMA_URL = (
    f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/"
    "MicrosoftTeams.Localization.schema.json"
)
COLOR_SIZE = 192
OUTLINE_SIZE = 32
ACCENT_COLOR = "#10a37f"  # the brand green, as api/install.py
ICON_SOURCE = Path(__file__).resolve().parents[1] / "assets" / "icons" / "maskable-512.png"
# A fixed namespace: the same URL always gives the same app id, so a package made again (a
# new version) updates the app already in Teams instead of adding a second one.
APP_ID_NAMESPACE = uuid.UUID("6f1d3a52-7c1e-5b8e-9a57-1c0ad4a4e219")
# The manifest's limits (schema v1.22): name.short 30, name.full 100, developer.name 32.
SHORT_NAME_MAX = 30
FULL_NAME_MAX = 100
DEVELOPER_NAME_MAX = 32
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
# zh-cn beside the manifest's own English (Teams shows the user's language when it has it).
EXTRA_LANGUAGES = {"zh-cn": "zh-cn"}


class PackageError(ValueError):
    """A value the package cannot be made with, in words an operator can act on."""


def _plain_text(value: str, what: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise PackageError(f"{what} is empty.")
    if len(value) > limit:
        raise PackageError(f"{what} is {len(value)} characters long; Teams allows {limit}.")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise PackageError(f"{what} contains a control character (a line break or a tab).")
    return value


def _https_url(value: str, what: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise PackageError(
            f"{what} must be an https:// address (Teams only shows tabs served over HTTPS), "
            f"not {value.strip()!r}."
        )
    if parts.username or parts.password:
        raise PackageError(f"{what} must not contain a user name or password.")
    try:
        port = parts.port
    except ValueError:
        raise PackageError(f"{what} has a port that is not a number from 1 to 65535.") from None
    # Teams compares hosts case-insensitively; a stable id needs one spelling.
    netloc = parts.hostname.lower() + (f":{port}" if port else "")
    return urlunsplit(("https", netloc, parts.path or "/", parts.query, ""))


class PackageOptions(BaseModel):
    """What the package is made from (`teams-package`'s flags)."""

    url: str
    name: str = "ChatGPT"
    full_name: str | None = None
    developer: str | None = None
    website_url: str | None = None
    privacy_url: str | None = None
    terms_url: str | None = None
    version: str = "1.0.0"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _https_url(value, "The app's URL (--url)")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _plain_text(value, "The name (--name)", SHORT_NAME_MAX)

    @field_validator("full_name")
    @classmethod
    def _full_name(cls, value: str | None) -> str | None:
        return None if value is None else _plain_text(value, "--full-name", FULL_NAME_MAX)

    @field_validator("developer")
    @classmethod
    def _developer(cls, value: str | None) -> str | None:
        return None if value is None else _plain_text(value, "--developer", DEVELOPER_NAME_MAX)

    @field_validator("website_url", "privacy_url", "terms_url")
    @classmethod
    def _other_url(cls, value: str | None) -> str | None:
        return None if value is None else _https_url(value, "Each developer URL")

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        value = value.strip()
        if not SEMVER.match(value):
            raise PackageError(f"The version must look like 1.0.0, not {value!r}.")
        return value

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    @property
    def app_id(self) -> str:
        return str(uuid.uuid5(APP_ID_NAMESPACE, self.url))


def options(**values: object) -> PackageOptions:
    """PackageOptions from flags, with a plain-words PackageError for any bad value."""
    try:
        return PackageOptions(**{k: v for k, v in values.items() if v is not None})
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        errors = getattr(error, "errors", lambda: [])()
        causes = [e.get("ctx", {}).get("error") for e in errors]
        words = [str(c) for c in causes if isinstance(c, PackageError)]
        raise PackageError(" ".join(words) or str(error)) from None


def _texts(opts: PackageOptions, lang: str) -> dict[str, str]:
    return {
        "name.short": opts.name,
        "name.full": opts.full_name or opts.name,
        "description.short": t(lang, "teams.description_short"),
        "description.full": t(lang, "teams.description_full"),
        "staticTabs[0].name": t(lang, "teams.tab_name"),
    }


def manifest(opts: PackageOptions) -> dict:
    """manifest.json for a personal tab showing `opts.url`."""
    texts = _texts(opts, "en")
    return {
        "$schema": SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "version": opts.version,
        "id": opts.app_id,
        "localizationInfo": {
            "defaultLanguageTag": "en-us",
            "additionalLanguages": [
                {"languageTag": tag, "file": f"{tag}.json"} for tag in EXTRA_LANGUAGES
            ],
        },
        "developer": {
            "name": opts.developer or opts.host[:DEVELOPER_NAME_MAX],
            "websiteUrl": opts.website_url or opts.url,
            "privacyUrl": opts.privacy_url or opts.url,
            "termsOfUseUrl": opts.terms_url or opts.url,
        },
        "name": {"short": texts["name.short"], "full": texts["name.full"]},
        "description": {
            "short": texts["description.short"],
            "full": texts["description.full"],
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": ACCENT_COLOR,
        "staticTabs": [
            {
                "entityId": "chat",
                "name": texts["staticTabs[0].name"],
                "contentUrl": opts.url,
                "websiteUrl": opts.url,
                "scopes": ["personal"],
            }
        ],
        "validDomains": [opts.host],
    }


def localization(opts: PackageOptions, lang: str) -> dict:
    """One additional language's file: the manifest's user-visible strings, translated."""
    return {"$schema": LOCALIZATION_SCHEMA_URL, **_texts(opts, lang)}


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def color_icon(source: Path = ICON_SOURCE) -> bytes:
    """192x192: the app's full-square (maskable) icon, which Teams rounds as it likes."""
    with Image.open(source) as image:
        return _png(image.convert("RGBA").resize((COLOR_SIZE, COLOR_SIZE), Image.LANCZOS))


def outline_icon(source: Path = ICON_SOURCE) -> bytes:
    """32x32: the icon's white speech bubble, white on transparency as Teams asks.

    The source is white on the brand green; how far a pixel is from green to white (its red
    channel: 16 on green, 255 on white) becomes its opacity, so edges stay smooth.
    """
    with Image.open(source) as image:
        red = image.convert("RGBA").getchannel("R")
    alpha = red.point(lambda v: max(0, min(255, round((v - 16) * 255 / (255 - 16)))))
    # Only the bubble, with a small margin: at 32 px the whole square would leave it tiny.
    left, top, right, bottom = alpha.getbbox() or (0, 0, *alpha.size)
    side = max(right - left, bottom - top) * 1.08
    cx, cy = (left + right) / 2, (top + bottom) / 2
    box = tuple(round(v) for v in (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2))
    alpha = alpha.crop(box).resize((OUTLINE_SIZE, OUTLINE_SIZE), Image.LANCZOS)
    white = Image.new("RGBA", alpha.size, (255, 255, 255, 0))
    white.putalpha(alpha)
    return _png(white)


def package_bytes(opts: PackageOptions) -> bytes:
    """The zip Teams uploads: manifest.json, its translations, color.png and outline.png at
    the zip's root (Teams refuses them in a folder)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest(opts), ensure_ascii=False, indent=2))
        for tag, lang in EXTRA_LANGUAGES.items():
            text = json.dumps(localization(opts, lang), ensure_ascii=False, indent=2)
            archive.writestr(f"{tag}.json", text)
        archive.writestr("color.png", color_icon())
        archive.writestr("outline.png", outline_icon())
    return out.getvalue()


def default_path(opts: PackageOptions) -> Path:
    """teams-<host>.zip in the current directory."""
    safe = re.sub(r"[^A-Za-z0-9.-]+", "-", opts.host).strip("-") or "app"
    return Path(f"teams-{safe}.zip")


def write_package(opts: PackageOptions, out: Path | None = None) -> Path:
    """Write the package to `out` (default: teams-<host>.zip here); returns its path."""
    path = Path(out) if out else default_path(opts)
    if path.is_dir():
        path = path / default_path(opts).name
    data = package_bytes(opts)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path.resolve()


def _app_title() -> str:
    """APP_TITLE, the name the page shows, as the tab's default name."""
    from config import load_settings

    try:
        return load_settings().app_title
    except ValueError as error:  # a bad .env: say so, as the app would
        raise PackageError(f"the settings cannot be read (use --name): {error}") from None


def main(argv: list[str]) -> int:
    """`python chat_app.py teams-package --url URL ...`: write the zip, print its path."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python chat_app.py teams-package",
        description="Write a Microsoft Teams app package (a personal tab showing this app). "
        "Upload it in Teams (Apps > Manage your apps > Upload an app) or the Teams admin "
        "center, and run the app with TEAMS_TAB=true.",
    )
    parser.add_argument("--url", required=True, help="the app's https:// address")
    parser.add_argument("--name", help="short name in Teams (30 characters; default APP_TITLE)")
    parser.add_argument("--full-name", help="full name (100 characters; default --name)")
    parser.add_argument("--developer", help="developer name (32 characters; default the host)")
    parser.add_argument("--website-url", help="developer website (default --url)")
    parser.add_argument("--privacy-url", help="privacy statement (default --url)")
    parser.add_argument("--terms-url", help="terms of use (default --url)")
    parser.add_argument(
        "--app-version", help="the package's version, e.g. 1.0.1 (raise it for each update)"
    )
    parser.add_argument("--out", help="where to write the zip (default teams-<host>.zip here)")
    args = parser.parse_args(argv)
    try:
        name = args.name if args.name is not None else _app_title()
        opts = options(
            url=args.url,
            name=name,
            full_name=args.full_name,
            developer=args.developer,
            website_url=args.website_url,
            privacy_url=args.privacy_url,
            terms_url=args.terms_url,
            version=args.app_version,
        )
        path = write_package(opts, Path(args.out) if args.out else None)
    except PackageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: could not write the package: {error}", file=sys.stderr)
        return 1
    print(path)
    return 0
