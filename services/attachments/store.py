"""The attachments' rows and files, always by owner.

Rows (name, type, size, tokens, which conversation) live in the records database, beside the
conversations they belong to, so deleting a conversation deletes them with it (ON DELETE
CASCADE) and the same owner check guards both. The bytes are files under ATTACHMENT_DIR, one
folder per attachment (`<dir>/<id[:2]>/<id>/`): `original` (as uploaded), `model` (an image as
the model gets it) and `thumb.webp`. Files keep the database small and its backups quick, and
are served straight from disk. With records off the rows go to a scratch SQLite database
(`ATTACHMENT_DIR/scratch.db`, files under `ATTACHMENT_DIR/scratch/`), kept ATTACHMENT_TTL_HOURS.

An id that is not the caller's behaves exactly like one that does not exist (None, or the
error "missing"), so ids cannot be probed.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from services.attachments.documents import read_document
from services.attachments.images import prepare_image
from services.attachments.kinds import AttachmentError, allowed_kinds, safe_name, sniff
from services.attachments.models import AttachmentInfo
from services.attachments.passages import save_passages
from services.records.models import Attachment, is_id, new_id, utcnow

log = logging.getLogger(__name__)

VARIANTS = {"original": "original", "model": "model", "thumb": "thumb.webp"}
THUMBNAIL_MIME = "image/webp"
INCOMING = ".incoming"
SCRATCH = "scratch"
SCRATCH_DATABASE = "scratch.db"
# Abandoned uploads (never sent) and the scratch database's rows are looked for this often.
PURGE_EVERY = 600.0
# A folder with no row is an upload still being written for at most this long.
ORPHAN_GRACE = timedelta(hours=1)
MB = 1024 * 1024


def max_bytes(settings) -> int:
    """MAX_ATTACHMENT_MB in bytes."""
    return int(settings.max_attachment_mb * MB)


def _info(row) -> AttachmentInfo:
    return AttachmentInfo.model_validate(row, from_attributes=True)


def remove_files(directory: Path, ids: Iterable[str]) -> None:
    """Delete the files of these attachments (ids that are not ids are skipped)."""
    for attachment_id in ids:
        if is_id(attachment_id):
            shutil.rmtree(directory / attachment_id[:2] / attachment_id, ignore_errors=True)


def _model_mime(data: bytes) -> str:
    return "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"


class AttachmentStore:
    """Attachments in `engine`'s database, their files under `directory`."""

    def __init__(self, engine: Engine | None, directory: Path, settings, *, scratch: bool = False):
        # None: the scratch database, opened (and migrated) on first use, so an app with
        # records off that never sees an upload never makes one.
        self._engine = engine
        self._opening = threading.Lock()
        self.directory = Path(directory)
        self.settings = settings
        # Records off: rows belong to no conversation and all of them expire.
        self.scratch = scratch
        self.ttl = timedelta(hours=settings.attachment_ttl_hours)
        self.max_bytes = max_bytes(settings)
        self.kinds = allowed_kinds(settings)
        self._purged_at = 0.0
        self._purge_lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            with self._opening:
                if self._engine is None:
                    self._engine = self._open_scratch()
        return self._engine

    @property
    def _writer(self) -> Engine:
        # On SQLite a writing transaction takes the write lock up front (see the records).
        return self.engine.execution_options(records_write=True)

    def _open_scratch(self) -> Engine:
        from services.records.repository import Records

        # SCRATCH_DATABASE sits beside the scratch files' folder, in ATTACHMENT_DIR.
        records = Records(f"sqlite:///{self.directory.parent / SCRATCH_DATABASE}")
        records.upgrade()
        self._scratch_records = records  # keeps it alive (its pool is dropped in forked workers)
        return records.engine

    @property
    def max_pending(self) -> int:
        """Uploads one identity may keep unsent: a few messages' worth, so uploads that are
        never sent cannot fill the disk before the purge takes them."""
        return max(20, 4 * self.settings.max_attachments)

    def _pending(self, owner: str) -> int:
        with self.engine.connect() as connection:
            return connection.scalar(
                select(func.count())
                .select_from(Attachment)
                .where(Attachment.owner == owner, Attachment.conversation_id.is_(None))
            )

    # ---- paths

    def _folder(self, attachment_id: str) -> Path:
        return self.directory / attachment_id[:2] / attachment_id

    # ---- adding

    def add(self, owner: str, name: str, data: bytes) -> AttachmentInfo:
        """Check and store one upload (pending: in no conversation yet). Raises
        AttachmentError; on any failure nothing is left behind."""
        self._purge_now_and_then()
        if not data:
            raise AttachmentError("empty")
        if len(data) > self.max_bytes:
            raise AttachmentError("too_large", limit_mb=_mb(self.settings.max_attachment_mb))
        if self._pending(owner) >= self.max_pending:
            raise AttachmentError("pending", limit=self.max_pending)
        name = safe_name(name)
        sniffed = sniff(data, name)
        if sniffed.kind not in self.kinds:
            raise AttachmentError("unsupported", allowed=", ".join(sorted(self.kinds)))
        attachment_id = new_id()
        values = {
            "id": attachment_id,
            "owner": owner,
            "conversation_id": None,
            "name": name,
            "kind": sniffed.family,
            "mime": sniffed.mime,
            "size": len(data),
            "created_at": utcnow(),
        }
        files = {"original": data}
        document = None
        if sniffed.family == "image":
            prepared = prepare_image(data)
            files.update(model=prepared.data, thumb=prepared.thumbnail)
            values.update(width=prepared.width, height=prepared.height, tokens=prepared.tokens)
        else:
            document = read_document(data, sniffed.kind)
            values.update(pages=document.pages, note=document.note)
        folder = self._write_files(attachment_id, files)
        try:
            with self._writer.begin() as connection:
                connection.execute(insert(Attachment).values(**values))
                if document is not None:
                    tokens = save_passages(connection, attachment_id, document.passages)
                    values["tokens"] = tokens
                    connection.execute(
                        update(Attachment)
                        .where(Attachment.id == attachment_id)
                        .values(tokens=tokens)
                    )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return AttachmentInfo.model_validate(values)

    def _write_files(self, attachment_id: str, files: dict[str, bytes]) -> Path:
        """Write the files in a folder of their own, then move it into place in one step, so
        a reader never sees half of them."""
        incoming = self.directory / INCOMING / attachment_id
        incoming.mkdir(parents=True)
        try:
            for variant, data in files.items():
                (incoming / VARIANTS[variant]).write_bytes(data)
            folder = self._folder(attachment_id)
            folder.parent.mkdir(parents=True, exist_ok=True)
            os.replace(incoming, folder)
        except BaseException:
            shutil.rmtree(incoming, ignore_errors=True)
            raise
        return folder

    # ---- reading, always by owner

    def _row(self, owner: str, attachment_id: str):
        if not is_id(attachment_id):
            return None
        with self.engine.connect() as connection:
            return connection.execute(
                select(Attachment).where(Attachment.id == attachment_id, Attachment.owner == owner)
            ).first()

    def get(self, owner: str, attachment_id: str) -> AttachmentInfo | None:
        """The owner's attachment, or None (another owner's, unknown or expired)."""
        row = self._row(owner, attachment_id)
        if row is None or self._expired(row):
            return None
        return _info(row)

    def _expired(self, row) -> bool:
        # Expired rows may outlive their TTL until the next purge; they are gone already.
        if not self.scratch:
            return False
        return row.created_at < utcnow() - self.ttl

    def resolve(
        self, owner: str, ids: list[str], conversation_id: str | None
    ) -> list[AttachmentInfo]:
        """The owner's attachments `ids` (in that order, each once), each pending or already in
        `conversation_id`. Raises AttachmentError("missing") for any other id."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        if not all(is_id(i) for i in wanted):
            raise AttachmentError("missing")
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(Attachment).where(Attachment.id.in_(wanted), Attachment.owner == owner)
            ).all()
        found = {row.id: row for row in rows}
        infos = []
        for attachment_id in wanted:
            row = found.get(attachment_id)
            if row is None or self._expired(row):
                raise AttachmentError("missing")
            if row.conversation_id is not None and row.conversation_id != conversation_id:
                raise AttachmentError("missing")
            infos.append(_info(row))
        return infos

    def link(self, owner: str, ids: list[str], conversation_id: str) -> int:
        """Put the owner's pending attachments `ids` in the conversation (records on only);
        returns how many. A conversation that is not on record links none."""
        if self.scratch or not ids:
            return 0
        try:
            with self._writer.begin() as connection:
                result = connection.execute(
                    update(Attachment)
                    .where(
                        Attachment.id.in_(list(ids)),
                        Attachment.owner == owner,
                        Attachment.conversation_id.is_(None),
                    )
                    .values(conversation_id=conversation_id)
                )
        except IntegrityError:
            # No such conversation (it could not be recorded): they stay pending.
            log.warning("attachments not linked: conversation %s is not on record", conversation_id)
            return 0
        return result.rowcount

    def for_conversation(
        self, owner: str, conversation_id: str, kind: str | None = None
    ) -> list[AttachmentInfo]:
        """The owner's attachments in the conversation, oldest first (`kind`: image|document)."""
        if self.scratch or not is_id(conversation_id):
            return []
        statement = select(Attachment).where(
            Attachment.owner == owner, Attachment.conversation_id == conversation_id
        )
        if kind is not None:
            statement = statement.where(Attachment.kind == kind)
        with self.engine.connect() as connection:
            rows = connection.execute(
                statement.order_by(Attachment.created_at, Attachment.id)
            ).all()
        return [_info(row) for row in rows]

    def open_file(self, owner: str, attachment_id: str, variant: str) -> tuple[Path, str] | None:
        """The file of the owner's attachment and the type to serve it as, or None."""
        info = self.get(owner, attachment_id)
        if info is None or variant not in VARIANTS:
            return None
        path = self._folder(info.id) / VARIANTS[variant]
        if not path.is_file():
            return None  # a document has no model image nor thumbnail
        if variant == "thumb":
            return path, THUMBNAIL_MIME
        if variant == "model":
            with path.open("rb") as file:
                return path, _model_mime(file.read(8))
        return path, info.mime

    def model_part(self, owner: str, attachment_id: str, detail: str = "auto") -> dict:
        """The owner's image as a Chat Completions content part (a data URL). Raises
        AttachmentError("missing")."""
        opened = self.open_file(owner, attachment_id, "model")
        if opened is None:
            raise AttachmentError("missing")
        path, mime = opened
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
        return {
            "type": "image_url",
            "image_url": {"url": f"data:{mime};base64,{encoded}", "detail": detail},
        }

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A connection for the passages' search and the context (services/attachments)."""
        with self.engine.connect() as connection:
            yield connection

    # ---- deleting

    def delete_pending(self, owner: str, attachment_id: str) -> bool:
        """Delete the owner's attachment that is in no conversation yet (the chip's ×)."""
        if not is_id(attachment_id):
            return False
        with self._writer.begin() as connection:
            gone = connection.execute(
                delete(Attachment).where(
                    Attachment.id == attachment_id,
                    Attachment.owner == owner,
                    Attachment.conversation_id.is_(None),
                )
            ).rowcount
        if gone:
            remove_files(self.directory, [attachment_id])
        return gone == 1

    def remove_files(self, ids: Iterable[str]) -> None:
        """Delete these attachments' files (their rows are gone already)."""
        remove_files(self.directory, ids)

    def delete_conversation_files(self, conversation_ids: Iterable[str]) -> int:
        """Delete the attachments (rows and files) of these conversations; returns how many.
        The caller has checked that the conversations are the owner's."""
        wanted = [i for i in conversation_ids if is_id(i)]
        if not wanted:
            return 0
        with self._writer.begin() as connection:
            ids = connection.scalars(
                select(Attachment.id).where(Attachment.conversation_id.in_(wanted))
            ).all()
            if ids:
                connection.execute(delete(Attachment).where(Attachment.id.in_(ids)))
        remove_files(self.directory, ids)
        return len(ids)

    def purge(self, older_than: timedelta | None = None, *, sweep: bool = True) -> int:
        """Delete attachments older than `older_than` (default ATTACHMENT_TTL_HOURS) that no
        conversation keeps (with records off: all of them), then (`sweep`) any folder left
        without a row; returns how many rows went."""
        cutoff = utcnow() - (older_than if older_than is not None else self.ttl)
        statement = select(Attachment.id).where(Attachment.created_at < cutoff)
        if not self.scratch:
            statement = statement.where(Attachment.conversation_id.is_(None))
        with self._writer.begin() as connection:
            ids = connection.scalars(statement).all()
            if ids:
                connection.execute(delete(Attachment).where(Attachment.id.in_(ids)))
        remove_files(self.directory, ids)
        if sweep:
            self._sweep_orphans()
        return len(ids)

    def _sweep_orphans(self) -> None:
        """Folders whose row is gone (a process stopped between the two, or rows deleted by
        something that could not reach the files) and old enough not to be an upload that is
        still being written."""
        if not self.directory.is_dir():
            return
        before = time.time() - ORPHAN_GRACE.total_seconds()
        folders = {}
        for shard in self.directory.iterdir():
            if len(shard.name) != 2 or not shard.is_dir():
                continue
            for folder in shard.iterdir():
                if is_id(folder.name) and folder.stat().st_mtime < before:
                    folders[folder.name] = folder
        incoming = self.directory / INCOMING
        if incoming.is_dir():
            for folder in incoming.iterdir():
                if folder.stat().st_mtime < before:
                    shutil.rmtree(folder, ignore_errors=True)
        if not folders:
            return
        with self.engine.connect() as connection:
            known = set()
            names = list(folders)
            for start in range(0, len(names), 500):
                chunk = names[start : start + 500]
                known.update(
                    connection.scalars(select(Attachment.id).where(Attachment.id.in_(chunk)))
                )
        for name, folder in folders.items():
            if name not in known:
                shutil.rmtree(folder, ignore_errors=True)

    def _purge_now_and_then(self) -> None:
        """Run `purge` at most every PURGE_EVERY seconds per process (from uploads). One
        indexed query, so an upload barely waits; walking the folders for orphans is left to
        `records purge`, except in the scratch folder, which holds a day of uploads at most."""
        now = time.monotonic()
        if now - self._purged_at < PURGE_EVERY or not self._purge_lock.acquire(blocking=False):
            return
        try:
            self._purged_at = now
            self.purge(sweep=self.scratch)
        except Exception:  # a failed clean-up must not fail the upload
            log.exception("purging old attachments failed")
        finally:
            self._purge_lock.release()


def _mb(value: float) -> str:
    return f"{value:g}"


def open_store(settings, records=None) -> AttachmentStore | None:
    """The app's attachments: None with MAX_ATTACHMENTS=0; in the records' database when
    records are on, else in the scratch database under ATTACHMENT_DIR (migrated here)."""
    if settings.max_attachments == 0:
        return None
    directory = Path(settings.attachment_dir)
    if records is not None:
        store = AttachmentStore(records.engine, directory, settings)
        delete_files_with(records, directory)
        return store
    return AttachmentStore(None, directory / SCRATCH, settings, scratch=True)


def delete_files_with(records, directory: Path | str) -> None:
    """Have `records` (services.records.Records, or its GuardedRecords) delete the files of
    the attachments whose rows its deletes take with them: a conversation deleted, cleared or
    purged, a user deleted with --purge-records."""
    inner = getattr(records, "records", records)  # GuardedRecords wraps the Records
    folder = Path(directory)
    inner.on_attachments_deleted = lambda ids: remove_files(folder, ids)
