"""Files between the user's store (GridFS) and the sandbox: uploads in, deliverables out."""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Iterator

from django.conf import settings

from sandboxes.services import SandboxHandle
from sandboxes.tool_api import ToolApiError
from sessions.events import FileInfo
from sessions.files import FileTooLargeError, StoredFile, clean_filename, file_chunks, file_store

from .tools.base import ToolFailedError

logger = logging.getLogger(__name__)


class ChunkReader:
    """A file-like `read(n)` over an iterator of byte chunks (what `file_store` reads from)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._pending) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._pending += chunk
        if size < 0:
            data, self._pending = self._pending, b""
        else:
            data, self._pending = self._pending[:size], self._pending[size:]
        return data


def upload_dir(sandbox: SandboxHandle) -> str:
    return posixpath.join(sandbox.home, "upload")


def attachments_to_sandbox(*, sandbox: SandboxHandle, owner_id: int, files: list[FileInfo]) -> list[str]:
    """Copy the user's attached files to `<home>/upload/<filename>`; returns the sandbox paths."""
    paths = []
    for info in files:
        stored, chunks = file_chunks(owner_id=owner_id, file_id=info.file_id)
        path = posixpath.join(upload_dir(sandbox), clean_filename(stored.filename))
        sandbox.tool_api.file_upload(path=path, data=b"".join(chunks))
        paths.append(path)
    return paths


def sandbox_files_to_store(
    *, sandbox: SandboxHandle, owner_id: int, session_id: str, paths: list[str]
) -> list[FileInfo]:
    """Copy files the agent produced (absolute sandbox paths) into the user's store.

    Raises ToolFailedError naming the first path that cannot be read, so the model can fix it.
    """
    infos: list[FileInfo] = []
    for path in paths:
        if not path.startswith("/"):
            raise ToolFailedError(f"attachment '{path}' must be an absolute path in the sandbox")
        cap = settings.FILE_UPLOAD_MAX_BYTES
        too_large = f"attachment '{path}' is larger than the {cap} byte limit: deliver a smaller file"
        chunks: Iterator[bytes] = iter(())
        try:
            # Streamed into the store with the cap counted as the bytes arrive: a huge (or sparse)
            # file is refused after `cap` bytes, never read whole into this worker's memory.
            chunks = sandbox.tool_api.file_download(path=path, max_bytes=cap)
            stored: StoredFile = file_store(
                owner_id=owner_id,
                filename=posixpath.basename(path),
                data=ChunkReader(chunks),
                session_id=session_id,
                source="agent",
                max_bytes=cap,
            )
        except ToolApiError as exc:
            if exc.status == 413:
                raise ToolFailedError(too_large) from exc
            raise ToolFailedError(f"attachment '{path}' could not be read: {exc.message}") from exc
        except FileTooLargeError as exc:
            raise ToolFailedError(too_large) from exc
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # ends the download (and its connection) if the store stopped early
        infos.append(stored.info())
    return infos
