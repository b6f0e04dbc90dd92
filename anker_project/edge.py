"""Request bodies are capped at the edge, before anything stores them.

Daphne (through Twisted) receives a whole request body, spooling it to a temporary file, before
it hands the request to Django; Django and DRF then read it again. So the cap is enforced twice:

- in daphne's request object (`LimitedWebRequest`, installed by `install_daphne_body_limits`):
  a `Content-Length` over the limit is answered 413 as soon as the headers are in, and a chunked
  body is counted as it arrives and answered 413 the moment it passes the limit. The answer is
  the API envelope; the connection is then half-closed, what the client still sends is read and
  dropped for a moment (so it sees the answer rather than a reset), and the connection is cut.
  Nothing past the limit is written anywhere.
- in an ASGI middleware (`BodyLimitMiddleware`), for any other ASGI server: the same limits on
  the `Content-Length` header and on the bytes as the application receives them.

Limits: a multipart upload to `/api/v1/files` may be FILE_UPLOAD_MAX_BYTES plus a little framing;
every other body REQUEST_MAX_BYTES (1 MiB unless configured).
"""

from __future__ import annotations

import io
import json
from typing import Any

from django.conf import settings

UPLOAD_PATHS = frozenset({"/api/v1/files"})
# After a refusal: how long, and how many more bytes, to read and drop before cutting the connection.
LINGER_SECONDS = 2.0
LINGER_BYTES = 8 * 1024 * 1024


def body_limit(path: str, content_type: str) -> int:
    """The largest body a request to `path` with this Content-Type may have."""
    if path.rstrip("/") in UPLOAD_PATHS and content_type.lower().startswith("multipart/form-data"):
        return int(settings.FILE_UPLOAD_MAX_BYTES) + int(settings.UPLOAD_ENVELOPE_BYTES)
    return int(settings.REQUEST_MAX_BYTES)


def too_large_body(limit: int) -> bytes:
    msg = f"The request body is larger than the {limit} byte limit of this endpoint; send less."
    return json.dumps({"code": 413, "msg": msg, "data": {"limit_bytes": limit}}).encode()


def _content_length(raw: bytes | None) -> int | None:
    """The declared length; None when absent. A malformed one counts as over any limit."""
    if raw is None:
        return None
    text = raw.decode("latin1").strip()
    return int(text) if text.isdigit() and len(text) < 20 else 1 << 62


class BodyLimitMiddleware:
    """ASGI: refuse HTTP bodies over `body_limit` with a 413 envelope, before the app reads them."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        limit = body_limit(scope.get("path", ""), headers.get(b"content-type", b"").decode("latin1"))
        declared = _content_length(headers.get(b"content-length"))
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        received = 0
        refused = False
        response_started = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received, refused
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not refused:
                    refused = True
                    if not response_started:
                        await _refuse(send, limit)
                    return {"type": "http.disconnect"}  # the app stops reading; nothing else is sent
            return message

        async def guarded_send(message: dict[str, Any]) -> None:
            nonlocal response_started
            if refused:
                return
            response_started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)


async def _refuse(send: Any, limit: int) -> None:
    body = too_large_body(limit)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def install_daphne_body_limits() -> None:
    """Make daphne's HTTP factory build `LimitedWebRequest`s (it looks the class up per connection)."""
    from daphne import http_protocol

    if http_protocol.WebRequest.__name__ == "LimitedWebRequest":
        return

    base: Any = http_protocol.WebRequest

    class LimitedWebRequest(base):  # type: ignore[misc, valid-type]
        _limit = 0
        _received = 0
        _refused = False
        _dropped = 0

        def gotLength(self, length: int | None) -> None:  # noqa: N802 - Twisted's name
            path = (getattr(self.channel, "_path", b"") or b"").split(b"?", 1)[0].decode("latin1", "replace")
            ctype = (self.requestHeaders.getRawHeaders(b"content-type") or [b""])[0].decode("latin1")
            self._limit = body_limit(path, ctype)
            if length is not None and length > self._limit:
                self._refuse()
                return
            super().gotLength(length)

        def handleContentChunk(self, data: bytes) -> None:  # noqa: N802
            if self._refused:
                self._dropped += len(data)
                if self._dropped > LINGER_BYTES:
                    self._cut()
                return
            self._received += len(data)
            if self._received > self._limit:
                self._refuse()
                return
            super().handleContentChunk(data)

        def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:  # noqa: N802
            if self._refused:
                return  # answered already: the application never sees this request
            super().requestReceived(command, path, version)

        def _refuse(self) -> None:
            self._refused = True
            self.content = io.BytesIO()
            channel = self.channel
            transport = getattr(channel, "transport", None)
            if transport is None:
                return
            channel.persistent = False
            body = too_large_body(self._limit)
            transport.write(
                b"HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n".encode()
                + b"Connection: close\r\n\r\n"
                + body
            )
            half_close = getattr(transport, "loseWriteConnection", None)
            if half_close is None:
                transport.loseConnection()
                return
            half_close()
            from twisted.internet import reactor

            clock: Any = reactor
            clock.callLater(LINGER_SECONDS, self._cut)

        def _cut(self) -> None:
            transport = getattr(self.channel, "transport", None)
            if transport is not None:
                transport.abortConnection()

    LimitedWebRequest.__name__ = LimitedWebRequest.__qualname__ = "LimitedWebRequest"
    http_protocol.WebRequest = LimitedWebRequest
