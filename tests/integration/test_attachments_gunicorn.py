"""Uploads through gunicorn with the shipped config (buffered_worker.py): an attachment may be
larger than MAX_REQUEST_BYTES, up to MAX_ATTACHMENT_MB, and gets time to arrive in proportion
to its size; other bodies keep their limit, and an upload over its own is refused unread."""

from __future__ import annotations

import json
import socket
import time

import httpx2 as httpx
import pytest

from tests.attachment_files import image_bytes
from tests.e2e.conftest import AppProcess
from tests.integration.test_slow_bodies import _answer, _env, _status


@pytest.fixture
def app(upstream, tmp_path):
    app = AppProcess(
        _env(
            upstream,
            MAX_REQUEST_BYTES="5000",
            MAX_ATTACHMENT_MB="1",
            REQUEST_READ_TIMEOUT="2",
            ATTACHMENT_DIR=str(tmp_path / "attachments"),
            DATABASE_URL=f"sqlite:///{tmp_path}/chat.db",
        )
    )
    yield app
    app.stop()


def multipart(data: bytes, name: str = "photo.png") -> tuple[bytes, str]:
    boundary = "----upload"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{name}"\r\nContent-Type: image/png\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def test_an_upload_larger_than_max_request_bytes_is_taken(app):
    photo = image_bytes("PNG", (600, 600)) + b"\x00" * 200_000  # trailing bytes PNG ignores
    assert 5000 < len(photo) < 1024 * 1024
    answer = httpx.post(
        f"{app.url}/api/attachments", files={"file": ("photo.png", photo)}, timeout=30
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["size"] == len(photo)
    chat = httpx.post(f"{app.url}/api/chat", content=b"x" * 5001, timeout=30)
    assert chat.status_code == 413  # every other route keeps MAX_REQUEST_BYTES


def test_an_upload_over_its_limit_is_refused_unread(app):
    body, kind = multipart(b"\x00" * (2 * 1024 * 1024))
    with socket.create_connection(("127.0.0.1", app.port), timeout=10) as sock:
        sock.sendall(
            (
                f"POST /api/attachments HTTP/1.1\r\nHost: x\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
        )
        answer = _answer(sock)
    assert _status(answer) == 413
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["type"] == "too_large"


def test_a_slow_upload_gets_time_in_proportion_to_its_size(app):
    """900 KB at ~200 KB/s takes longer than REQUEST_READ_TIMEOUT=2 s, and still arrives."""
    body, kind = multipart(image_bytes("PNG", (64, 64)) + b"\x00" * 900_000)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", app.port), timeout=30) as sock:
        sock.sendall(
            (
                f"POST /api/attachments HTTP/1.1\r\nHost: x\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode()
        )
        for start in range(0, len(body), 20_000):
            sock.sendall(body[start : start + 20_000])
            time.sleep(0.1)  # the pace of a slow network, not a wait for a result
        answer = _answer(sock)
    assert time.monotonic() - started > 2
    assert _status(answer) == 201, answer[:300]
