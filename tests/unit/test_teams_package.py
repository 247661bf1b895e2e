"""The Teams app package (services/teams_package.py): the manifest Teams requires, its icons,
ids stable for a URL, and plain-words refusals; and `python chat_app.py teams-package`."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from i18n import LANGUAGES
from services import teams_package as tp

ROOT = Path(__file__).resolve().parents[2]
URL = "https://chat.contoso.example/"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_manifest_has_what_the_schema_requires():
    manifest = tp.manifest(tp.options(url=URL, name="Contoso Chat"))
    assert manifest["$schema"].endswith("/v1.22/MicrosoftTeams.schema.json")
    assert manifest["manifestVersion"] == "1.22"
    # The schema's required top-level fields.
    for field in ("manifestVersion", "version", "id", "developer", "name", "description"):
        assert manifest[field]
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", manifest["accentColor"])
    assert GUID.match(manifest["id"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    developer = manifest["developer"]
    assert developer["name"] and len(developer["name"]) <= 32
    for key in ("websiteUrl", "privacyUrl", "termsOfUseUrl"):
        assert developer[key].startswith("https://")
    assert manifest["name"] == {"short": "Contoso Chat", "full": "Contoso Chat"}
    assert 0 < len(manifest["description"]["short"]) <= 80
    assert 0 < len(manifest["description"]["full"]) <= 4000


def test_one_personal_static_tab_showing_the_app():
    manifest = tp.manifest(tp.options(url="https://Chat.Contoso.example:8443/tab?x=1"))
    (tab,) = manifest["staticTabs"]
    assert tab["scopes"] == ["personal"]
    assert tab["entityId"] and len(tab["entityId"]) <= 64
    assert tab["contentUrl"] == tab["websiteUrl"] == "https://chat.contoso.example:8443/tab?x=1"
    assert manifest["validDomains"] == ["chat.contoso.example:8443"]


def test_the_id_is_stable_per_url_and_differs_between_urls():
    first = tp.options(url=URL).app_id
    assert tp.options(url="https://CHAT.contoso.example/").app_id == first
    assert tp.options(url="https://chat.contoso.example").app_id == first
    assert tp.options(url=URL, name="Other name", version="2.0.0").app_id == first
    assert tp.options(url="https://other.example/").app_id != first
    assert uuid.UUID(first).version == 5


def test_developer_and_urls_from_flags():
    opts = tp.options(
        url=URL,
        developer="Contoso IT",
        website_url="https://it.contoso.example",
        privacy_url="https://it.contoso.example/privacy",
        terms_url="https://it.contoso.example/terms",
        full_name="Contoso's assistant for everyone",
        version="1.2.3",
    )
    manifest = tp.manifest(opts)
    assert manifest["developer"] == {
        "name": "Contoso IT",
        "websiteUrl": "https://it.contoso.example/",
        "privacyUrl": "https://it.contoso.example/privacy",
        "termsOfUseUrl": "https://it.contoso.example/terms",
    }
    assert manifest["name"]["full"] == "Contoso's assistant for everyone"
    assert manifest["version"] == "1.2.3"


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"url": "http://chat.contoso.example"}, "https://"),
        ({"url": "chat.contoso.example"}, "https://"),
        ({"url": "https://user:pw@chat.contoso.example"}, "password"),
        ({"url": "https://chat.contoso.example:99999/"}, "port"),
        ({"url": URL, "name": "x" * 31}, "31 characters"),
        ({"url": URL, "name": "   "}, "empty"),
        ({"url": URL, "name": "two\nlines"}, "control character"),
        ({"url": URL, "full_name": "y" * 101}, "101 characters"),
        ({"url": URL, "developer": "d" * 33}, "33 characters"),
        ({"url": URL, "privacy_url": "http://x.example"}, "https://"),
        ({"url": URL, "version": "v1"}, "1.0.0"),
    ],
)
def test_bad_values_are_refused_in_plain_words(values, words):
    with pytest.raises(tp.PackageError, match=re.escape(words)):
        tp.options(**values)


def test_the_zip_holds_the_manifest_its_translation_and_both_icons_at_its_root():
    files = unzip(tp.package_bytes(tp.options(url=URL)))
    assert set(files) == {"manifest.json", "zh-cn.json", "color.png", "outline.png"}
    manifest = json.loads(files["manifest.json"])
    (extra,) = manifest["localizationInfo"]["additionalLanguages"]
    assert extra == {"languageTag": "zh-cn", "file": "zh-cn.json"}
    chinese = json.loads(files["zh-cn.json"])
    zh = LANGUAGES["zh-cn"]["strings"]
    assert chinese["description.short"] == zh["teams.description_short"]
    assert chinese["staticTabs[0].name"] == zh["teams.tab_name"]
    assert len(chinese["description.short"]) <= 80


def test_icons_have_the_sizes_teams_requires_and_the_outline_is_white_on_transparent():
    files = unzip(tp.package_bytes(tp.options(url=URL)))
    color = Image.open(io.BytesIO(files["color.png"]))
    assert color.format == "PNG" and color.size == (192, 192)
    assert color.convert("RGBA").getpixel((96, 4))[3] == 255  # a full square, no holes
    outline = Image.open(io.BytesIO(files["outline.png"])).convert("RGBA")
    assert outline.size == (32, 32)
    pixels = [outline.getpixel((x, y)) for y in range(32) for x in range(32)]
    visible = [p for p in pixels if p[3] > 0]
    assert all(p[:3] == (255, 255, 255) for p in visible)  # only white
    assert pixels[0][3] == 0 and pixels[-1][3] == 0  # transparent corners
    # The bubble is there: a good share of the square, but not all of it.
    assert 0.2 < len([p for p in pixels if p[3] > 128]) / len(pixels) < 0.8


def run_command(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CHAT_ENV_FILE": "", "APP_TITLE": "Contoso Chat"}
    return subprocess.run(
        [sys.executable, str(ROOT / "chat_app.py"), "teams-package", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_writes_the_zip_and_prints_its_path(tmp_path):
    done = run_command("--url", URL, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    assert path == tmp_path / "teams-chat.contoso.example.zip" and path.is_file()
    manifest = json.loads(unzip(path.read_bytes())["manifest.json"])
    assert manifest["name"]["short"] == "Contoso Chat"  # APP_TITLE by default
    assert manifest["staticTabs"][0]["contentUrl"] == URL

    out = tmp_path / "pkg" / "tab.zip"
    again = run_command("--url", URL, "--name", "Ask IT", "--out", str(out), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert Path(again.stdout.strip()) == out
    second = json.loads(unzip(out.read_bytes())["manifest.json"])
    assert second["id"] == manifest["id"] and second["name"]["short"] == "Ask IT"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--url", "http://chat.contoso.example"], "must be an https:// address"),
        (["--url", URL, "--name", "A name far too long for a Teams app"], "Teams allows 30"),
    ],
)
def test_the_command_refuses_bad_values_with_exit_code_2(tmp_path, args, words):
    done = run_command(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert words in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == "" and list(tmp_path.iterdir()) == []
