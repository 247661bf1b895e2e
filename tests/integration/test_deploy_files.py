"""The deploy files (deploy/compose.yaml, deploy/Dockerfile, deploy/nginx/*.conf) agree with
the app and with each other.

There is no Docker on CI, so the compose file is checked, not run: it parses, every setting it
gives the app is one the app reads, the names nginx's site points at are its services, and
the files it mounts exist. The site itself passes `nginx -t` with a self-signed pair; the
several-instances test (test_nginx_instances.py) runs its rules.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from config import Settings
from tests.nginx_cluster import LOCATIONS, SITE, nginx_binary
from tests.redis_server import IN_CI

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
DOCKERFILE = (DEPLOY / "Dockerfile").read_text()
APPS = {name: svc for name, svc in COMPOSE["services"].items() if "build" in svc}


def environment_names() -> set[str]:
    """Every variable the app reads: its settings, plus gunicorn.conf.py's own."""
    names = {name.upper() for name in Settings.model_fields}
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        for choice in getattr(alias, "choices", []):
            names.add(str(choice).upper())
    gunicorn = (REPO / "gunicorn.conf.py").read_text()
    names |= set(re.findall(r"environ\.get\(['\"]([A-Z_]+)", gunicorn))
    return names | {"SECRET_KEY"}  # read by name (config.Settings.variable)


def test_compose_runs_nginx_two_instances_postgresql_and_redis():
    assert {"nginx", "postgres", "redis"} <= set(COMPOSE["services"])
    assert len(APPS) >= 2
    for service in APPS.values():
        assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        assert service["env_file"] == "../.env"
        assert {"postgres", "redis"} <= set(service["depends_on"])


def test_the_instances_share_what_must_be_shared():
    known = environment_names()
    for name, service in APPS.items():
        env = service["environment"]
        assert set(env) <= known, f"{name} sets variables the app never reads"
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@postgres:" in env["DATABASE_URL"]
        assert env["RATELIMIT_STORAGE_URI"] == "redis://redis:6379/0"
        assert env["TRUSTED_PROXIES"] == "1"
        assert "${SECRET_KEY:?" in env["SECRET_KEY"]  # required, one value for all
        # Uploaded files in one volume for all of them.
        assert f"attachments:{env['ATTACHMENT_DIR']}" in service["volumes"]
        assert service["hostname"] == name  # distinct writers of streaming replies
    environments = [service["environment"] for service in APPS.values()]
    assert all(env == environments[0] for env in environments)


def test_nginx_points_at_the_instances_and_mounts_what_chat_conf_includes():
    site = SITE.read_text()
    upstream = re.search(r"^upstream chat_app \{(.*?)^\}", site, re.M | re.S).group(1)
    servers = re.findall(r"^\s*server ([\w.-]+):(\d+)", upstream, re.M)
    assert {host for host, _ in servers} == set(APPS)
    assert {port for _, port in servers} == {APPS["app1"]["environment"]["PORT"]}
    mounts = dict(volume.rsplit(":", 1)[0].split(":", 1) for volume in _nginx_volumes())
    for source in mounts:
        assert (DEPLOY / source).exists() or source == "./certs", source
    included = re.search(r"include (\S+);", site).group(1)
    assert mounts["./nginx/chat-locations.conf"] == f"/etc/nginx/{included}"
    certificate = re.search(r"ssl_certificate\s+(\S+);", site).group(1)
    assert certificate.startswith(mounts["./certs"] + "/")


def _nginx_volumes() -> list[str]:
    return COMPOSE["services"]["nginx"]["volumes"]


def test_the_image_builds_the_app_as_the_readme_says():
    assert DOCKERFILE.startswith("# ") and "FROM python:3.12-slim" in DOCKERFILE
    assert "pip install -r requirements.txt" in DOCKERFILE
    assert "python chat_app.py precompress" in DOCKERFILE
    assert 'CMD ["gunicorn", "chat_app:server"]' in DOCKERFILE
    assert "PORT=8000" in DOCKERFILE and "EXPOSE 8000" in DOCKERFILE


def _megabytes(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+)([km]?)", value).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024 * 1024}[unit] / 1_000_000


def test_body_limits_match_the_apps():
    rules = LOCATIONS.read_text()
    defaults = Settings(_env_file=None)
    general = re.search(r"^client_max_body_size (\S+);", rules, re.M).group(1)
    assert _megabytes(general) >= 4_000_000 / 1_000_000  # MAX_REQUEST_BYTES's default
    upload = re.search(r"location = /api/attachments \{(.*?)\}", rules, re.S).group(1)
    size = re.search(r"client_max_body_size (\S+);", upload).group(1)
    assert _megabytes(size) > defaults.max_attachment_mb * 1.048576  # MB as the app counts
    for stream in ("/api/chat/stream", "/v1/chat/completions"):
        block = re.search(rf"location = {re.escape(stream)} \{{(.*?)\}}", rules, re.S).group(1)
        assert "proxy_buffering off;" in block and "gzip off;" in block
    assert "text/event-stream" not in re.search(r"^gzip_types(.*?);", rules, re.M | re.S).group(1)


def test_the_shipped_site_passes_nginx_t(tmp_path: Path):
    """chat.conf as installed (snippets/ beside it), with a self-signed pair in place of the
    certificate and the instances' names pointed at 127.0.0.1 (nginx -t resolves them)."""
    binary, openssl = nginx_binary(), shutil.which("openssl")
    if binary is None or openssl is None:
        if IN_CI:
            pytest.fail("CI needs nginx and openssl: apt-get install nginx openssl")
        pytest.skip("nginx or openssl is not installed")
    (tmp_path / "snippets").mkdir()
    shutil.copy(LOCATIONS, tmp_path / "snippets" / "chat-locations.conf")
    pair = ["-keyout", str(tmp_path / "privkey.pem"), "-out", str(tmp_path / "fullchain.pem")]
    options = ["-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=chat.example.com"]
    subprocess.run(
        [openssl, "req", "-x509", *options, *pair],
        check=True,
        capture_output=True,
    )
    site = SITE.read_text().replace("/etc/nginx/certs", str(tmp_path))
    site = re.sub(r"server app(\d+):8000", r"server 127.0.0.1:800\1", site)
    (tmp_path / "chat.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nevents {{}}\n"
        f"http {{ proxy_temp_path {tmp_path}/proxy; client_body_temp_path {tmp_path}/body;\n"
        f"       include {tmp_path}/chat.conf; }}\n"
    )
    error_log = str(tmp_path / "error.log")
    checked = subprocess.run(
        [binary, "-t", "-p", str(tmp_path), "-e", error_log, "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr
