"""Request and response bodies: the chunked-body reader, query and validation-error helpers,
and the secret redaction of a downloaded file."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from pydantic import ValidationError

from .errors import ApiError
from .files import Readable
from .redact import Redactor


class _LineReader(Readable, Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


class _ChunkedReader:
    """Minimal reader for a chunked request body (HTTP/1.1 clients that stream
    without a length, e.g. requests with a generator)."""

    def __init__(self, raw: _LineReader) -> None:
        self.raw = raw
        self.left = 0
        self.done = False

    def read(self, size: int = -1) -> bytes:
        out = bytearray()
        while not self.done and (size < 0 or len(out) < size):
            if self.left == 0:
                line = self.raw.readline(1024)
                try:
                    self.left = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError as exc:
                    raise ApiError(400, "malformed chunked body") from exc
                if self.left == 0:
                    while self.raw.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    self.done = True
                    break
            want = self.left if size < 0 else min(self.left, size - len(out))
            data = self.raw.read(want)
            if not data:
                raise ApiError(400, "chunked body ended early")
            out += data
            self.left -= len(data)
            if self.left == 0:
                self.raw.readline(1024)  # CRLF after the chunk
        return bytes(out)


def _one(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name)
    if not values or not values[0]:
        raise ApiError(422, f"query parameter {name!r} is required")
    return values[0]


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "invalid request: " + "; ".join(parts)


# A file is read whole to be checked for secrets; deliverables are capped lower than this anyway.
REDACT_MAX_BYTES = 64 * 1024 * 1024


def _redacted_file(redactor: Redactor, path: str, size: int, chunks: Iterator[bytes]) -> bytes:
    """The file's bytes with every secret redacted. Text (UTF-8) is redacted like any output; a
    binary file cannot be edited without breaking it, so one that holds a secret is refused."""
    if size > REDACT_MAX_BYTES:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        raise ApiError(413, f"{path} is larger than the {REDACT_MAX_BYTES} bytes that can be checked for secret values")
    data = b"".join(chunks)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        if redactor.text(data.decode("latin-1")) != data.decode("latin-1"):
            raise ApiError(403, f"{path} holds a secret value in binary form; it cannot leave the sandbox") from None
        return data
    return redactor.text(text).encode("utf-8")
