"""Files between the user's store (GridFS) and the sandbox: uploads in, deliverables out."""

from __future__ import annotations

import logging
import posixpath

from sandboxes.tool_api import ToolApiError
from sessions.events import FileInfo
from sessions.files import StoredFile, clean_filename, file_chunks, file_store

from .sandbox import SandboxLike
from .tools.base import ToolFailedError

logger = logging.getLogger(__name__)


def upload_dir(sandbox: SandboxLike) -> str:
    return posixpath.join(sandbox.home, "upload")


def attachments_to_sandbox(*, sandbox: SandboxLike, owner_id: int, files: list[FileInfo]) -> list[str]:
    """Copy the user's attached files to `<home>/upload/<filename>`; returns the sandbox paths."""
    paths = []
    for info in files:
        stored, chunks = file_chunks(owner_id=owner_id, file_id=info.file_id)
        path = posixpath.join(upload_dir(sandbox), clean_filename(stored.filename))
        sandbox.tool_api.file_upload(path=path, data=b"".join(chunks))
        paths.append(path)
    return paths


def sandbox_files_to_store(*, sandbox: SandboxLike, owner_id: int, session_id: str, paths: list[str]) -> list[FileInfo]:
    """Copy files the agent produced (absolute sandbox paths) into the user's store.

    Raises ToolFailedError naming the first path that cannot be read, so the model can fix it.
    """
    infos: list[FileInfo] = []
    for path in paths:
        if not path.startswith("/"):
            raise ToolFailedError(f"attachment '{path}' must be an absolute path in the sandbox")
        try:
            data = b"".join(sandbox.tool_api.file_download(path=path))
        except ToolApiError as exc:
            raise ToolFailedError(f"attachment '{path}' could not be read: {exc.message}") from exc
        stored: StoredFile = file_store(
            owner_id=owner_id,
            filename=posixpath.basename(path),
            data=data,
            session_id=session_id,
            source="agent",
        )
        infos.append(stored.info())
    return infos
