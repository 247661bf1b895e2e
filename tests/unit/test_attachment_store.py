"""The attachments' store against a records database (SQLite here; PostgreSQL runs the same
class in tests/integration/test_attachments_postgres.py): always by owner, pending until
linked, files with their rows."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from config import Settings
from services.attachments.kinds import AttachmentError
from services.attachments.store import AttachmentStore, open_store
from services.records.models import Attachment
from services.records.repository import Records
from tests.attachment_files import SVG, age_attachment, image_bytes


def settings_for(folder: Path, **overrides) -> Settings:
    return Settings(_env_file=None, attachment_dir=str(folder), **overrides)


class StoreBehaviour:
    """Needs a `records` fixture: a migrated, empty Records."""

    @pytest.fixture
    def folder(self, tmp_path) -> Path:
        return tmp_path / "attachments"

    @pytest.fixture
    def store(self, records, folder) -> AttachmentStore:
        return open_store(settings_for(folder), records)

    def ids_on_disk(self, folder: Path) -> set[str]:
        return {path.name for path in folder.glob("??/*")}

    def test_add_and_read_back_by_owner_only(self, store, folder):
        info = store.add("amy", "../shot.png", image_bytes("PNG", (640, 480)))
        assert (info.name, info.kind, info.mime) == ("shot.png", "image", "image/png")
        assert (info.width, info.height, info.tokens) == (640, 480, 425)
        assert store.get("amy", info.id) == info
        assert store.get("bob", info.id) is None
        assert store.get("amy", "f" * 32) is None and store.get("amy", "../x") is None
        path, mime = store.open_file("amy", info.id, "original")
        assert path.read_bytes() == image_bytes("PNG", (640, 480)) and mime == "image/png"
        assert path.parent.parent.name == info.id[:2]
        assert store.open_file("amy", info.id, "thumb")[1] == "image/webp"
        assert store.open_file("bob", info.id, "original") is None
        assert store.open_file("amy", info.id, "../../etc") is None
        assert self.ids_on_disk(folder) == {info.id}
        with pytest.raises(AttachmentError) as missing:
            store.model_part("bob", info.id)
        assert missing.value.code == "missing"
        assert store.model_part("amy", info.id, "low")["image_url"]["detail"] == "low"

    def test_a_refused_file_leaves_nothing(self, store, records, folder):
        for data, name in ((SVG, "a.svg"), (b"MZ" + b"\0" * 99, "a.png")):
            with pytest.raises(AttachmentError):
                store.add("amy", name, data)
        assert self.ids_on_disk(folder) == set()
        assert not list((folder / ".incoming").glob("*"))
        with records.engine.connect() as connection:
            assert connection.scalars(select(Attachment.id)).all() == []

    def test_a_failed_row_removes_the_files(self, store, folder, monkeypatch):
        def broken(*args, **kwargs):
            raise OSError("disk full")

        monkeypatch.setattr("services.attachments.store.insert", broken)
        with pytest.raises(OSError):
            store.add("amy", "a.png", image_bytes())
        assert self.ids_on_disk(folder) == set()

    def test_resolve_link_and_list(self, store, records):
        conversation = records.create_conversation("amy")
        other = records.create_conversation("amy")
        first, second = (store.add("amy", f"{n}.png", image_bytes()).id for n in (1, 2))
        bobs = store.add("bob", "b.png", image_bytes()).id
        assert [i.id for i in store.resolve("amy", [second, first, second], None)] == [
            second,
            first,
        ]
        for ids in ([bobs], [first, "f" * 32], ["not an id"]):
            with pytest.raises(AttachmentError) as caught:
                store.resolve("amy", ids, conversation)
            assert caught.value.code == "missing"
        assert store.link("amy", [first, second, bobs], conversation) == 2
        assert store.link("amy", [first], other) == 0  # already in a conversation
        assert [i.id for i in store.for_conversation("amy", conversation)] == [first, second]
        assert store.for_conversation("bob", conversation) == []
        assert store.for_conversation("amy", conversation, kind="document") == []
        assert len(store.resolve("amy", [first], conversation)) == 1
        with pytest.raises(AttachmentError):
            store.resolve("amy", [first], other)  # in another conversation

    def test_linking_to_no_such_conversation_keeps_it_pending(self, store):
        info = store.add("amy", "a.png", image_bytes())
        assert store.link("amy", [info.id], "0" * 32) == 0
        assert store.resolve("amy", [info.id], None)[0].id == info.id

    def test_delete_pending_only_and_only_the_owners(self, store, records, folder):
        pending, sent = (store.add("amy", "a.png", image_bytes()).id for _ in range(2))
        store.link("amy", [sent], records.create_conversation("amy"))
        assert store.delete_pending("bob", pending) is False
        assert store.delete_pending("amy", sent) is False
        assert store.delete_pending("amy", pending) is True
        assert self.ids_on_disk(folder) == {sent}

    def test_conversations_take_their_attachments_along(self, store, records, folder):
        deleted, cleared, kept = (records.create_conversation("amy") for _ in range(3))
        ids = {}
        for conversation in (deleted, cleared, kept):
            ids[conversation] = store.add("amy", "a.png", image_bytes()).id
            store.link("amy", [ids[conversation]], conversation)
        assert records.delete("amy", deleted) and records.clear("amy", cleared)
        assert self.ids_on_disk(folder) == {ids[kept]}
        assert store.delete_conversation_files([kept]) == 1
        assert self.ids_on_disk(folder) == set()

    def test_purge_drops_uploads_never_sent(self, store, records, folder):
        sent, fresh, abandoned = (store.add("amy", "a.png", image_bytes()).id for _ in range(3))
        store.link("amy", [sent], records.create_conversation("amy"))
        for attachment_id in (sent, abandoned):
            age_attachment(store, attachment_id, timedelta(hours=48))
        assert store.purge() == 1
        assert self.ids_on_disk(folder) == {sent, fresh}

    def test_a_folder_without_a_row_is_swept_once_old(self, store, folder):
        import os
        import time

        orphan = folder / "ab" / ("ab" + "0" * 30)
        orphan.mkdir(parents=True)
        (orphan / "original").write_bytes(b"x")
        store.purge()
        assert orphan.exists()  # it could be an upload being written right now
        old = time.time() - 2 * 3600
        os.utime(orphan, (old, old))
        store.purge()
        assert not orphan.exists()


class TestSqlite(StoreBehaviour):
    @pytest.fixture
    def records(self, tmp_path) -> Records:
        records = Records(f"sqlite:///{tmp_path}/chat.db")
        records.upgrade()
        yield records
        records.close()


def test_off_when_max_attachments_is_zero(tmp_path):
    assert open_store(settings_for(tmp_path, max_attachments=0)) is None
