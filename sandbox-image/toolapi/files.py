"""File operations. Every path goes through PathPolicy.resolve first."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from typing import Protocol

from . import models
from .errors import ApiError, bad_request, not_found
from .paths import PathPolicy


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


# Old/new contents are returned for UI diffs only when the file is this small.
DIFF_CONTENT_MAX_BYTES = 64 * 1024
MAX_SEARCH_MATCHES = 1000
MAX_SEARCH_LINE_CHARS = 2000
MAX_FIND_RESULTS = 1000
MAX_LIST_ENTRIES = 10000
STREAM_CHUNK = 256 * 1024


class FileService:
    def __init__(self, policy: PathPolicy) -> None:
        self.policy = policy

    # --- text ---------------------------------------------------------------

    def read(self, req: models.FileReadRequest) -> models.FileReadResult:
        path = self._existing_file(req.file)
        start = req.start_line or 0
        end = req.end_line
        if end is not None and end < start:
            raise bad_request(f"end_line {end} is before start_line {start}")
        parts: list[str] = []
        size = 0
        truncated = False
        total = 0
        # Stream line by line so a huge file never sits in memory whole.
        with open(path, encoding="utf-8", errors="replace", newline="") as fh:
            for index, line in enumerate(fh):
                total = index + 1
                if index < start or (end is not None and index >= end) or truncated:
                    continue
                room = req.max_chars - size
                if len(line) > room:
                    parts.append(line[:room])
                    size += room
                    truncated = True
                    continue
                parts.append(line)
                size += len(line)
        return models.FileReadResult(file=path, content="".join(parts), total_lines=total, truncated=truncated)

    def write(self, req: models.FileWriteRequest) -> models.FileWriteResult:
        path = self.policy.resolve(req.file)
        if os.path.isdir(path):
            raise bad_request(f"{path} is a directory")
        old_content = _small_text(path)
        content = req.content
        if req.leading_newline:
            content = "\n" + content
        if req.trailing_newline:
            content = content + "\n"
        data = content.encode("utf-8")
        _make_parents(path)
        with open(path, "ab" if req.append else "wb") as fh:
            fh.write(data)
        return models.FileWriteResult(file=path, bytes_written=len(data), old_content=old_content)

    def str_replace(self, req: models.FileStrReplaceRequest) -> models.FileStrReplaceResult:
        path = self._existing_file(req.file)
        with open(path, encoding="utf-8", newline="") as fh:
            try:
                old = fh.read()
            except UnicodeDecodeError as exc:
                raise bad_request(f"{path} is not UTF-8 text") from exc
        count = old.count(req.old_str)
        if count == 0:
            raise bad_request(f"old_str not found in {path}")
        new = old.replace(req.old_str, req.new_str)
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(new)
        return models.FileStrReplaceResult(
            file=path, count=count, old_content=_if_small(old), new_content=_if_small(new)
        )

    def search(self, req: models.FileSearchRequest) -> models.FileSearchResult:
        path = self._existing_file(req.file)
        try:
            pattern = re.compile(req.regex)
        except re.error as exc:
            raise bad_request(f"invalid regex: {exc}") from exc
        matches: list[models.SearchMatch] = []
        truncated = False
        with open(path, encoding="utf-8", errors="replace", newline="") as fh:
            for number, line in enumerate(fh, start=1):
                text = line.rstrip("\r\n")
                if pattern.search(text):
                    if len(matches) >= MAX_SEARCH_MATCHES:
                        truncated = True
                        break
                    matches.append(models.SearchMatch(line_number=number, line=text[:MAX_SEARCH_LINE_CHARS]))
        return models.FileSearchResult(file=path, matches=matches, truncated=truncated)

    def find(self, req: models.FileFindRequest) -> models.FileFindResult:
        base = self._existing_dir(req.path)
        if os.path.isabs(req.glob) or ".." in req.glob.split("/"):
            raise bad_request("glob must be relative to path and must not contain '..'")
        files: list[str] = []
        truncated = False
        for hit in glob.iglob(os.path.join(glob.escape(base), req.glob), recursive=True):
            # A symlink inside the root may point out of it: leave such hits out.
            if not self.policy.contains(os.path.realpath(hit)):
                continue
            if len(files) >= MAX_FIND_RESULTS:
                truncated = True
                break
            files.append(hit)
        files.sort()
        return models.FileFindResult(path=base, files=files, truncated=truncated)

    def list(self, req: models.FileListRequest) -> models.FileListResult:
        base = self._existing_dir(req.path)
        entries: list[models.ListEntry] = []
        truncated = False
        with os.scandir(base) as it:
            for entry in it:
                if len(entries) >= MAX_LIST_ENTRIES:
                    truncated = True
                    break
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                entries.append(
                    models.ListEntry(name=entry.name, type=_kind(st.st_mode), size=st.st_size, mtime=st.st_mtime)
                )
        entries.sort(key=lambda e: e.name)
        return models.FileListResult(path=base, entries=entries, truncated=truncated)

    # --- binary -------------------------------------------------------------

    def upload(self, raw_path: str, body: Readable, length: int | None) -> models.FileUploadResult:
        """Stream ``length`` bytes of body (or all of it, when None) to the file."""
        path = self.policy.resolve(raw_path)
        if os.path.isdir(path):
            raise bad_request(f"{path} is a directory")
        _make_parents(path)
        digest = hashlib.sha256()
        written = 0
        # Write next to the target and rename, so a broken upload never leaves
        # a half-written file under the real name.
        fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=os.path.dirname(path))
        try:
            with os.fdopen(fd, "wb") as out:
                while length is None or written < length:
                    want = STREAM_CHUNK if length is None else min(STREAM_CHUNK, length - written)
                    chunk = body.read(want)
                    if not chunk:
                        if length is None:
                            break
                        raise bad_request(f"upload ended after {written} of {length} bytes")
                    out.write(chunk)
                    digest.update(chunk)
                    written += len(chunk)
            os.chmod(tmp, 0o666 & ~_UMASK)
            os.replace(tmp, path)
        except BaseException:
            _unlink_quietly(tmp)
            raise
        return models.FileUploadResult(file=path, bytes_written=written, sha256=digest.hexdigest())

    def open_download(self, raw_path: str) -> tuple[str, int, Iterator[bytes]]:
        path = self._existing_file(raw_path)
        fh = open(path, "rb")  # noqa: SIM115 - closed by the generator
        size = os.fstat(fh.fileno()).st_size

        def chunks() -> Iterator[bytes]:
            with fh:
                remaining = size
                while remaining > 0:
                    chunk = fh.read(min(STREAM_CHUNK, remaining))
                    if not chunk:
                        return
                    remaining -= len(chunk)
                    yield chunk

        return path, size, chunks()

    # --- helpers ------------------------------------------------------------

    def _existing_file(self, raw: str) -> str:
        path = self.policy.resolve(raw)
        if not os.path.exists(path):
            raise not_found(f"no such file: {path}")
        if os.path.isdir(path):
            raise bad_request(f"{path} is a directory")
        return path

    def _existing_dir(self, raw: str) -> str:
        path = self.policy.resolve(raw)
        if not os.path.exists(path):
            raise not_found(f"no such directory: {path}")
        if not os.path.isdir(path):
            raise bad_request(f"{path} is not a directory")
        return path


def _make_parents(path: str) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except FileExistsError as exc:
        raise bad_request(f"a parent of {path} is not a directory") from exc
    except NotADirectoryError as exc:
        raise bad_request(f"a parent of {path} is not a directory") from exc


def _small_text(path: str) -> str | None:
    try:
        if not os.path.isfile(path) or os.path.getsize(path) > DIFF_CONTENT_MAX_BYTES:
            return None
        with open(path, encoding="utf-8", newline="") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError):
        return None


def _if_small(text: str) -> str | None:
    return text if len(text.encode("utf-8")) <= DIFF_CONTENT_MAX_BYTES else None


def _kind(mode: int) -> models.EntryType:
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    return "other"


def _read_umask() -> int:
    # os.umask can only be read by setting it; do it once at import, before the
    # server starts threads, since the mask is process-wide.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


__all__ = ["ApiError", "FileService"]
