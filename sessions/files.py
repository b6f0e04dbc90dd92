"""Files of a user's sessions, in GridFS: uploads, files the agent delivers, screenshots.

Every read is owner-scoped: another user's file id is "not found". Metadata lives in the
GridFS file document (`metadata.owner_id`, `metadata.session_id`, `metadata.source`);
lists use `find` on it, never `count_documents` (the Mongo-compatible server used in
tests cannot count on nested `fs.files` fields: reference/infra.md, addendum).
"""

from __future__ import annotations

import contextlib
import mimetypes
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

import gridfs
from bson import ObjectId
from bson.errors import InvalidId
from django.conf import settings
from pymongo.errors import PyMongoError

from anker_project.errors import ApplicationError, NotFoundError
from anker_project.mongo import get_db
from anker_project.principal import Principal

from .events import FileInfo
from .models import Session

BUCKET = "files"
# Private marks live beside GridFS, not in its metadata: the Mongo-compatible server of the
# embedded default and the tests does not update `<bucket>.files` documents. One document per
# private file: {_id: the file's ObjectId, owner_id}.
PRIVATE_MARKS = "file_private_marks"
CHUNK_BYTES = 255 * 1024
MAX_FILENAME_CHARS = 200


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class FileTooLargeError(ApplicationError):
    status = 413


@dataclass(frozen=True)
class StoredFile:
    file_id: str
    filename: str
    content_type: str
    size: int
    owner_id: int
    session_id: str | None
    source: str
    uploaded_at: datetime
    api_key_id: str | None = None  # uploaded with this API key (it may attach and download it)
    # Marked private by its owner: never shown through a share link (sessions/shares.py).
    private: bool = False

    def info(self) -> FileInfo:
        return FileInfo(
            file_id=self.file_id,
            filename=self.filename,
            content_type=self.content_type,
            size=self.size,
            file_url=file_url(self.file_id),
        )


def file_url(file_id: str) -> str:
    return f"/api/v1/files/{file_id}/download"


def _bucket() -> gridfs.GridFSBucket:
    return gridfs.GridFSBucket(get_db(), bucket_name=BUCKET, chunk_size_bytes=CHUNK_BYTES)


def clean_filename(name: str) -> str:
    """The last path component, without control characters; never empty."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip().lstrip(".") or "file"
    return base[:MAX_FILENAME_CHARS]


def _from_doc(doc: dict, *, private: bool = False) -> StoredFile:
    meta = doc.get("metadata") or {}
    return StoredFile(
        file_id=str(doc["_id"]),
        filename=doc.get("filename") or "file",
        content_type=meta.get("content_type") or "application/octet-stream",
        size=int(doc.get("length", 0)),
        owner_id=int(meta.get("owner_id", 0)),
        session_id=meta.get("session_id"),
        source=meta.get("source", "upload"),
        uploaded_at=doc.get("uploadDate") or datetime.now(UTC),
        api_key_id=meta.get("api_key_id"),
        private=private,
    )


def _from_docs(docs: Iterable[dict]) -> list[StoredFile]:
    """Stored files with their private marks (one more query for all of them)."""
    docs = list(docs)
    oids = [doc["_id"] for doc in docs]
    marked = (
        {str(m["_id"]) for m in get_db()[PRIVATE_MARKS].find({"_id": {"$in": oids}}, {"_id": 1})} if oids else set()
    )
    return [_from_doc(doc, private=str(doc["_id"]) in marked) for doc in docs]


def _mark_private(oid: ObjectId, *, owner_id: int, private: bool) -> None:
    marks = get_db()[PRIVATE_MARKS]
    if private:
        marks.replace_one({"_id": oid}, {"_id": oid, "owner_id": owner_id}, upsert=True)
    else:
        marks.delete_one({"_id": oid})


def file_store(
    *,
    owner_id: int,
    filename: str,
    data: bytes | Readable,
    session_id: str | None = None,
    content_type: str | None = None,
    source: str = "upload",
    max_bytes: int | None = None,
    api_key_id: str | None = None,
    private: bool = False,
) -> StoredFile:
    """Store a file for `owner_id` (uploaded with `api_key_id`, if a key sent it; `private`:
    never shown through a share link). Raises FileTooLargeError past `max_bytes` (nothing is kept)."""
    name = clean_filename(filename)
    ctype = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    cap = settings.FILE_UPLOAD_MAX_BYTES if max_bytes is None else max_bytes
    metadata = {"owner_id": owner_id, "session_id": session_id, "source": source, "content_type": ctype}
    if api_key_id is not None:
        metadata["api_key_id"] = api_key_id
    known_size = len(data) if isinstance(data, bytes) else getattr(data, "size", None)
    if isinstance(known_size, int) and known_size > cap:
        raise FileTooLargeError(f"the file is larger than the {cap} byte limit")
    bucket = _bucket()
    stream = bucket.open_upload_stream(name, metadata=metadata)
    written = 0
    try:
        if isinstance(data, bytes):
            if len(data) > cap:
                raise FileTooLargeError(f"the file is larger than the {cap} byte limit")
            stream.write(data)
            written = len(data)
        else:
            while chunk := data.read(CHUNK_BYTES):
                written += len(chunk)
                if written > cap:
                    raise FileTooLargeError(f"the file is larger than the {cap} byte limit")
                stream.write(chunk)
        stream.close()
    except BaseException:
        # Nothing may have reached the server yet, and then aborting fails: the error that matters is ours.
        with contextlib.suppress(PyMongoError):
            stream.abort()
        raise
    if private:
        _mark_private(stream._id, owner_id=owner_id, private=True)
    return StoredFile(
        file_id=str(stream._id),
        filename=name,
        content_type=ctype,
        size=written,
        owner_id=owner_id,
        session_id=session_id,
        source=source,
        uploaded_at=datetime.now(UTC),
        api_key_id=api_key_id,
        private=private,
    )


def _object_id(file_id: str) -> ObjectId:
    try:
        return ObjectId(file_id)
    except (InvalidId, TypeError):
        raise NotFoundError("File not found") from None


def file_get(*, owner_id: int, file_id: str) -> StoredFile:
    doc = get_db()[f"{BUCKET}.files"].find_one({"_id": _object_id(file_id), "metadata.owner_id": owner_id})
    if doc is None:
        raise NotFoundError("File not found")
    return _from_docs([doc])[0]


def file_get_for(*, principal: Principal, file_id: str) -> StoredFile:
    """A file the caller may use. A user: any file they own. An API key: the files it uploaded
    and those of its own jobs' sessions; the owner's other files do not exist for it."""
    stored = file_get(owner_id=principal.user_id, file_id=file_id)
    if principal.api_key_id is None or stored.api_key_id == principal.api_key_id:
        return stored
    in_own_job = (
        stored.session_id is not None
        and Session.objects.filter(pk=stored.session_id, api_key_id=principal.api_key_id).exists()
    )
    if not in_own_job:
        raise NotFoundError("File not found")
    return stored


def file_set_private(*, principal: Principal, file_id: str, private: bool) -> StoredFile:
    """Mark a file the caller may use private (or not). A private file stays the owner's as
    before; only share links leave it out."""
    stored = file_get_for(principal=principal, file_id=file_id)
    _mark_private(ObjectId(stored.file_id), owner_id=stored.owner_id, private=private)
    return replace(stored, private=private)


def files_by_ids(*, owner_id: int, file_ids: Iterable[str]) -> dict[str, StoredFile]:
    """The files among `file_ids` that `owner_id` owns, by id (ids that are not ids are skipped)."""
    oids = []
    for file_id in dict.fromkeys(file_ids):
        with contextlib.suppress(InvalidId, TypeError):
            oids.append(ObjectId(file_id))
    if not oids:
        return {}
    cursor = get_db()[f"{BUCKET}.files"].find({"_id": {"$in": oids}, "metadata.owner_id": owner_id})
    return {stored.file_id: stored for stored in _from_docs(cursor)}


def file_chunks(*, owner_id: int, file_id: str) -> tuple[StoredFile, Iterator[bytes]]:
    """The file and an iterator over its bytes (for a streamed download)."""
    stored = file_get(owner_id=owner_id, file_id=file_id)
    return stored, file_stream(stored)


def file_stream(stored: StoredFile) -> Iterator[bytes]:
    """The bytes of a file already found by an owner-scoped read."""
    grid_out = _bucket().open_download_stream(ObjectId(stored.file_id))

    def chunks() -> Iterator[bytes]:
        try:
            while chunk := grid_out.read(CHUNK_BYTES):
                yield chunk
        finally:
            grid_out.close()

    return chunks()


def file_read_bytes(*, owner_id: int, file_id: str) -> tuple[StoredFile, bytes]:
    stored, chunks = file_chunks(owner_id=owner_id, file_id=file_id)
    return stored, b"".join(chunks)


def files_of_session(*, owner_id: int, session_id: str, limit: int = 1000) -> list[StoredFile]:
    cursor = (
        get_db()[f"{BUCKET}.files"]
        .find({"metadata.owner_id": owner_id, "metadata.session_id": session_id})
        .sort("uploadDate", 1)
        .limit(limit)
    )
    return _from_docs(cursor)


def files_delete_of_session(*, session_id: str) -> int:
    """Delete a session's files (with the session). Returns how many."""
    bucket = _bucket()
    ids = [doc["_id"] for doc in get_db()[f"{BUCKET}.files"].find({"metadata.session_id": session_id}, {"_id": 1})]
    for oid in ids:
        bucket.delete(oid)
    if ids:
        get_db()[PRIVATE_MARKS].delete_many({"_id": {"$in": ids}})
    return len(ids)
