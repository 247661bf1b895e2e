"""Attachments over HTTP, through the real app: upload, served to the owner only, refusals
that store nothing, an upload cut off half-way, and the store with records off."""

from __future__ import annotations

import io
import json
import socket
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image
from sqlalchemy import func, select

from extensions import ATTACHMENTS
from services.records.models import Attachment
from services.records.repository import Records
from tests.attachment_files import (
    GPS_IFD,
    SVG,
    age_attachment,
    bomb_png,
    exe_bytes,
    image_bytes,
    photo_with_gps,
)


@pytest.fixture
def folder(tmp_path) -> Path:
    return tmp_path / "attachments"


@pytest.fixture
def app(make_app, tmp_path, folder):
    return make_app(database_url=f"sqlite:///{tmp_path}/chat.db", attachment_dir=str(folder))


def upload(client, data: bytes, name: str = "photo.png", **headers):
    return client.post(
        "/api/attachments",
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
        headers=headers or None,
    )


def store_of(app):
    return app.server.extensions[ATTACHMENTS]


def rows(app) -> int:
    with store_of(app).engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(Attachment))


def files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file() and path.suffix != ".db"]


# ---- upload and serve


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif")],
)
def test_an_image_is_stored_and_served_to_its_owner(app, fmt, mime):
    client = app.server.test_client()
    data = image_bytes(fmt, (600, 400))
    answer = upload(client, data, f"shot.{fmt.lower()}")
    assert answer.status_code == 201, answer.json
    info = answer.json
    assert info["kind"] == "image" and info["mime"] == mime and info["size"] == len(data)
    assert (info["width"], info["height"]) == (600, 400) and info["tokens"] == 425
    assert info["thumbnail"] == f"/api/attachments/{info['id']}/thumbnail"
    original = client.get(f"/api/attachments/{info['id']}")
    assert original.status_code == 200 and original.data == data
    assert original.mimetype == mime
    assert original.headers["Content-Disposition"].startswith("attachment;")
    assert original.headers["X-Content-Type-Options"] == "nosniff"
    assert original.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert original.headers["Cache-Control"] == "private, max-age=3600"
    thumb = client.get(info["thumbnail"])
    assert thumb.status_code == 200 and thumb.mimetype == "image/webp"
    assert "attachment" not in thumb.headers.get("Content-Disposition", "")
    assert Image.open(io.BytesIO(thumb.data)).format == "WEBP"
    assert store_of(app).get(client_identity(client), info["id"]) is not None


def client_identity(client) -> str:
    """The identity behind a test client's cookie (as the app reads it)."""
    from itsdangerous import URLSafeSerializer

    from api.identity import COOKIE

    cookie = client.get_cookie(COOKIE)
    return URLSafeSerializer("test-secret-not-for-production", salt="chat-identity").loads(
        cookie.value
    )


def test_the_stored_model_image_has_no_exif_and_is_upright(app):
    client = app.server.test_client()
    upload_data = photo_with_gps(orientation=6, size=(400, 200))
    info = upload(client, upload_data, "IMG_0001.jpg").json
    assert (info["width"], info["height"]) == (200, 400)
    store = store_of(app)
    path, mime = store.open_file(client_identity(client), info["id"], "model")
    model = Image.open(path)
    assert mime == "image/jpeg" and model.size == (200, 400)
    assert not model.getexif() and not model.getexif().get_ifd(GPS_IFD)
    assert b"PhoneMaker" not in path.read_bytes()
    part = store.model_part(client_identity(client), info["id"])
    assert part["type"] == "image_url" and part["image_url"]["detail"] == "auto"
    assert part["image_url"]["url"].startswith("data:image/jpeg;base64,/9j/")


def test_another_identity_and_a_guessed_id_get_the_same_404(app):
    owner = app.server.test_client()
    info = upload(owner, image_bytes()).json
    stranger = app.server.test_client()  # another browser: another cookie identity
    guessed = "0123456789abcdef0123456789abcdef"
    answers = []
    for path in (f"/api/attachments/{info['id']}", f"/api/attachments/{guessed}"):
        for suffix in ("", "/thumbnail"):
            answers.append(stranger.get(path + suffix))
        answers.append(stranger.delete(path))
    answers.append(stranger.get("/api/attachments/not-an-id"))
    assert {(a.status_code, a.get_data()) for a in answers} == {
        (404, b'{"error":{"message":"No such attachment.","type":"not_found"}}\n')
    }
    assert owner.get(f"/api/attachments/{info['id']}").status_code == 200  # still there


def test_another_user_gets_404(make_app, tmp_path, folder):
    url = f"sqlite:///{tmp_path}/accounts.db"
    from services.accounts import Accounts

    records = Records(url)
    records.upgrade()
    accounts = Accounts(records)
    accounts.add_user("amy", "amy-password")
    accounts.add_user("bob", "bob-password")
    app = make_app(accounts=True, database_url=url, attachment_dir=str(folder))
    amy, bob = app.server.test_client(), app.server.test_client()
    assert upload(amy, image_bytes()).status_code == 401  # signed out: nothing stored
    for client, name in ((amy, "amy"), (bob, "bob")):
        signed = client.post("/login", json={"username": name, "password": f"{name}-password"})
        assert signed.status_code == 200
    info = upload(amy, image_bytes()).json
    assert amy.get(f"/api/attachments/{info['id']}").status_code == 200
    theirs = bob.get(f"/api/attachments/{info['id']}")
    guessed = bob.get("/api/attachments/0123456789abcdef0123456789abcdef")
    assert theirs.status_code == guessed.status_code == 404
    assert theirs.get_data() == guessed.get_data()
    # Amy in another browser is still Amy.
    elsewhere = app.server.test_client()
    elsewhere.post("/login", json={"username": "amy", "password": "amy-password"})
    assert elsewhere.get(f"/api/attachments/{info['id']}").status_code == 200


def test_a_pending_attachment_can_be_deleted_by_its_owner(app, folder):
    client = app.server.test_client()
    info = upload(client, image_bytes()).json
    assert len(files(folder)) == 3  # original, model, thumbnail
    assert client.delete(f"/api/attachments/{info['id']}").status_code == 204
    assert client.get(f"/api/attachments/{info['id']}").status_code == 404
    assert files(folder) == [] and rows(app) == 0
    assert client.delete(f"/api/attachments/{info['id']}").status_code == 404


def test_uploads_never_sent_are_capped_per_identity(app):
    """One identity cannot fill the disk with uploads it never sends: past the cap it is told
    to send or remove some; another identity is not affected."""
    client = app.server.test_client()
    cap = app.server.extensions[ATTACHMENTS].max_pending
    for _ in range(cap):
        assert upload(client, image_bytes()).status_code == 201
    answer = upload(client, image_bytes())
    assert answer.status_code == 400
    assert answer.json["error"]["type"] == "pending"
    assert str(cap) in answer.json["error"]["message"]
    assert rows(app) == cap
    assert upload(app.server.test_client(), image_bytes()).status_code == 201
    # Removing one makes room again.
    pending = client_identity(client)
    assert pending
    first = app.server.extensions[ATTACHMENTS]
    with first.engine.connect() as connection:
        some = connection.scalar(select(Attachment.id).where(Attachment.owner == pending))
    assert client.delete(f"/api/attachments/{some}").status_code == 204
    assert upload(client, image_bytes()).status_code == 201


def test_a_sent_attachment_is_not_deleted_by_the_chip(app):
    client = app.server.test_client()
    info = upload(client, image_bytes()).json
    owner = client_identity(client)
    records = app.server.extensions["chat_records"]
    conversation = records.create_conversation(owner)
    store = store_of(app)
    assert store.link(owner, [info["id"]], conversation) == 1
    assert client.delete(f"/api/attachments/{info['id']}").status_code == 404
    assert [a.id for a in store.for_conversation(owner, conversation)] == [info["id"]]
    assert store.resolve(owner, [info["id"]], conversation)[0].id == info["id"]


def test_a_cross_site_upload_is_refused(app, folder):
    client = app.server.test_client()
    refused = upload(client, image_bytes(), **{"Sec-Fetch-Site": "cross-site"})
    assert refused.status_code == 403 and files(folder) == []
    info = upload(client, image_bytes()).json
    assert (
        client.delete(f"/api/attachments/{info['id']}", headers={"Origin": "https://evil.example"})
    ).status_code == 403


# ---- refusals store nothing


def refusal(answer) -> tuple[int, str]:
    return answer.status_code, answer.json["error"]["type"]


def test_too_large_is_413_and_nothing_is_stored(make_app, tmp_path, folder):
    app = make_app(
        database_url=f"sqlite:///{tmp_path}/chat.db",
        attachment_dir=str(folder),
        max_attachment_mb=0.5,
    )
    client = app.server.test_client()
    big = image_bytes("PNG", (900, 900), "red") + b"\x00" * 600_000
    answer = upload(client, big, "big.png")
    assert refusal(answer) == (413, "too_large")
    assert answer.json["error"]["message"] == "The file is larger than 0.5 MB."
    assert answer.json["error"]["params"] == {"limit_mb": "0.5"}
    # A body far past the limit is refused from its Content-Length, before it is read.
    huge = upload(client, b"\x00" * 5_000_000, "huge.png")
    assert refusal(huge) == (413, "too_large")
    assert files(folder) == [] and rows(app) == 0


@pytest.mark.parametrize(
    ("data", "name", "code"),
    [
        (exe_bytes(), "cat.png", "mismatch"),
        (SVG, "logo.svg", "svg"),
        (SVG, "logo.png", "svg"),
        (bomb_png(), "bomb.png", "too_many_pixels"),
        (image_bytes("PNG", (300, 300))[:200], "half.png", "corrupt"),
        (b"", "empty.png", "empty"),
        (exe_bytes(), "setup.exe", "unsupported"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_stored(app, folder, data, name, code):
    answer = upload(app.server.test_client(), data, name)
    assert refusal(answer) == (400, code)
    assert files(folder) == [] and rows(app) == 0


def test_a_type_the_settings_do_not_allow(make_app, tmp_path, folder):
    app = make_app(
        database_url=f"sqlite:///{tmp_path}/chat.db",
        attachment_dir=str(folder),
        attachment_types="pdf",
    )
    answer = upload(app.server.test_client(), image_bytes())
    assert refusal(answer) == (400, "unsupported")
    assert answer.json["error"]["params"] == {"allowed": "pdf"}


def test_no_file_field_or_not_multipart(app):
    client = app.server.test_client()
    other = client.post("/api/attachments", data={"other": "x"}, content_type="multipart/form-data")
    assert refusal(other) == (400, "empty")
    raw = client.post("/api/attachments", data=image_bytes(), content_type="image/png")
    assert refusal(raw) == (400, "invalid_request")


def test_attachments_off_is_404(make_app, folder):
    app = make_app(max_attachments=0, attachment_dir=str(folder))
    assert app.server.extensions[ATTACHMENTS] is None
    assert upload(app.server.test_client(), image_bytes()).status_code == 404


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("../../../etc/cron.d/x.png", "x.png"),
        ("<script>alert(1)</script>.png", "script>.png"),
        ("<img src=x onerror=alert(1)>.png", "<img src=x onerror=alert(1)>.png"),
        ("a" * 300 + ".png", "a" * 251 + ".png"),
        ("照片 1.png", "照片 1.png"),
    ],
)
def test_file_names_are_made_safe(app, folder, name, kept):
    client = app.server.test_client()
    answer = upload(client, image_bytes(), name)
    assert answer.status_code == 201 and answer.json["name"] == kept
    # Nothing is written outside the attachments' folder, under a name the user chose.
    assert all(path.name in ("original", "model", "thumb.webp") for path in files(folder))
    served = client.get(f"/api/attachments/{answer.json['id']}")
    disposition = served.headers["Content-Disposition"]
    assert "\n" not in disposition and "/" not in disposition.split(";", 1)[1]
    assert served.mimetype == "image/png"


# ---- an upload cut off half-way (a real server and a raw socket)


def test_an_upload_cut_off_half_way_stores_nothing(live_server, tmp_path, folder):
    data = image_bytes("PNG", (300, 300))
    boundary = "----cut"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    body = head + data + f"\r\n--{boundary}--\r\n".encode()
    with live_server(
        database_url=f"sqlite:///{tmp_path}/chat.db", attachment_dir=str(folder)
    ) as server:
        address = urlsplit(server.url)
        with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
            sock.sendall(
                (
                    "POST /api/attachments HTTP/1.1\r\n"
                    f"Host: {address.netloc}\r\n"
                    f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode()
                + body[: len(body) // 2]
            )
            sock.shutdown(socket.SHUT_WR)  # the client goes away half-way
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"400", answer[:300]
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["error"]["type"] == "cut"
    assert files(folder) == []


def test_a_multipart_body_without_its_end_is_cut(app, folder):
    client = app.server.test_client()
    boundary = "xyz"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
    ).encode() + image_bytes()[:100]
    answer = client.post(
        "/api/attachments",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert refusal(answer) == (400, "cut") and files(folder) == []


# ---- records off: the scratch database


def test_records_off_keeps_attachments_in_a_scratch_database(make_app, folder):
    app = make_app(records_enabled=False, attachment_dir=str(folder))
    store = store_of(app)
    assert store.scratch and not (folder / "scratch.db").exists()  # made on first use
    client = app.server.test_client()
    info = upload(client, image_bytes()).json
    assert (folder / "scratch.db").is_file()
    assert client.get(f"/api/attachments/{info['id']}").status_code == 200
    owner = client_identity(client)
    assert [i.id for i in store.resolve(owner, [info["id"]], None)] == [info["id"]]
    assert store.link(owner, [info["id"]], "f" * 32) == 0  # no conversations on record
    # An hour later it is kept; a day later (ATTACHMENT_TTL_HOURS=24) it is purged.
    age_attachment(store, info["id"], timedelta(hours=1))
    assert store.purge() == 0
    assert client.get(f"/api/attachments/{info['id']}").status_code == 200
    age_attachment(store, info["id"], timedelta(hours=25))
    assert client.get(f"/api/attachments/{info['id']}").status_code == 404  # expired already
    assert store.purge() == 1
    assert rows(app) == 0 and files(folder / "scratch") == []


def test_records_on_purges_only_abandoned_uploads(app, folder):
    client = app.server.test_client()
    sent, abandoned = (upload(client, image_bytes()).json["id"] for _ in range(2))
    owner = client_identity(client)
    conversation = app.server.extensions["chat_records"].create_conversation(owner)
    store = store_of(app)
    store.link(owner, [sent], conversation)
    for attachment_id in (sent, abandoned):
        age_attachment(store, attachment_id, timedelta(days=3))
    assert store.purge() == 1
    assert store.get(owner, sent) is not None and store.get(owner, abandoned) is None
    assert len(files(folder)) == 3


def test_uploads_have_their_own_hourly_limit(make_app, tmp_path, folder, fake):
    from tests.fake_upstream import Reply

    app = make_app(
        database_url=f"sqlite:///{tmp_path}/chat.db",
        attachment_dir=str(folder),
        max_request_per_hour=1,
        max_attachments=2,
    )
    client = app.server.test_client()
    assert [upload(client, image_bytes()).status_code for _ in range(3)] == [201, 201, 429]
    # Counted apart from the chat requests: the one question of the hour is still there.
    fake.script(Reply("hi"))
    asked = client.post("/api/chat", json={"messages": [{"role": "user", "content": "hi"}]})
    assert asked.status_code == 200


def test_a_body_without_a_length_is_still_read_no_further_than_the_limit(make_app, tmp_path):
    folder = tmp_path / "attachments"
    app = make_app(
        database_url=f"sqlite:///{tmp_path}/chat.db",
        attachment_dir=str(folder),
        max_attachment_mb=0.1,
    )

    class Endless(io.RawIOBase):
        """A chunked upload that never ends: counts what the server reads of it."""

        read_bytes = 0

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return True

        def seek(self, offset: int, whence: int = 0) -> int:
            return 0  # the test client measures the body this way: it has no end

        def tell(self) -> int:
            return 0

        def readinto(self, buffer) -> int:
            buffer[:] = b"\0" * len(buffer)
            self.read_bytes += len(buffer)
            return len(buffer)

    body = Endless()
    answer = app.server.test_client().post(
        "/api/attachments",
        input_stream=body,
        content_type="multipart/form-data; boundary=x",
        # No Content-Length: the body ends when the client says (a chunked request).
        environ_overrides={"wsgi.input_terminated": True, "CONTENT_LENGTH": ""},
    )
    assert refusal(answer) == (413, "too_large")
    assert body.read_bytes < 0.1 * 1024 * 1024 + 64 * 1024 + 2 * 65536
    assert files(folder) == []
