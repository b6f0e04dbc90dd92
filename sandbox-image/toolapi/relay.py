"""Authenticated relays to the desktop: `GET /cdp` and `GET /vnc` as WebSocket upgrades.

CDP and VNC listen only inside the sandbox (Chromium on 127.0.0.1, x11vnc on a unix socket),
so the tool API's port, where every request needs the sandbox's bearer token, is the only way
in. The server checks the token before it calls anything here.

- `/cdp`: the browser's DevTools WebSocket. The tool API looks up the browser target on its own
  Chromium, forwards the client's upgrade request there (Authorization, Cookie and Origin
  dropped, Host rewritten: Chromium accepts only an IP or localhost) and reads Chromium's answer:
  a 101 is passed on and the connection spliced; anything else is passed on and the connection
  closed, so no second, unauthenticated request can ride it. The client never sees or needs a
  URL that names a host inside the sandbox.
- `/vnc`: the tool API ends the WebSocket itself (subprotocol `binary`) and relays the
  messages' bytes to and from x11vnc's unix socket as the raw RFB stream. No websockify, no
  TCP port: a web page inside the sandbox has nothing to connect to.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import logging
import socket
import struct
import threading
from typing import BinaryIO
from urllib.parse import urlsplit

from .errors import ApiError

log = logging.getLogger("toolapi.relay")

CHUNK_BYTES = 65536
UPSTREAM_TIMEOUT_SECONDS = 5.0
RESPONSE_HEAD_LIMIT = 16 * 1024
# The largest WebSocket message accepted from the client: RFB client messages are small; a
# clipboard paste is the big one.
MAX_CLIENT_FRAME_BYTES = 4 * 1024 * 1024
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
FORWARDED_UPGRADE_HEADERS = (
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Extensions",
    "Sec-WebSocket-Protocol",
)
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def is_upgrade(headers: http.client.HTTPMessage) -> bool:
    return headers.get("Upgrade", "").strip().lower() == "websocket"


# --- /cdp ---------------------------------------------------------------------------------------


def browser_target(cdp_port: int) -> str:
    """The path of this sandbox's browser WebSocket (`/devtools/browser/<id>`)."""
    conn = http.client.HTTPConnection("127.0.0.1", cdp_port, timeout=UPSTREAM_TIMEOUT_SECONDS)
    try:
        conn.request("GET", "/json/version")
        response = conn.getresponse()
        body = response.read(RESPONSE_HEAD_LIMIT)
    except OSError as exc:
        raise ApiError(502, f"the sandbox's browser does not answer ({exc})") from exc
    finally:
        conn.close()
    try:
        path = urlsplit(str(json.loads(body)["webSocketDebuggerUrl"])).path
    except (ValueError, KeyError, TypeError) as exc:
        raise ApiError(502, "the sandbox's browser gave no DevTools endpoint") from exc
    if not path.startswith("/devtools/browser/"):
        raise ApiError(502, "the sandbox's browser gave an unexpected DevTools endpoint")
    return path


def relay_cdp(client: socket.socket, rfile: BinaryIO, headers: http.client.HTTPMessage, cdp_port: int) -> int:
    """Forward an authenticated upgrade to Chromium; returns the status Chromium answered."""
    path = browser_target(cdp_port)
    try:
        upstream = socket.create_connection(("127.0.0.1", cdp_port), timeout=UPSTREAM_TIMEOUT_SECONDS)
    except OSError as exc:
        raise ApiError(502, f"the sandbox's browser does not answer ({exc})") from exc
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{cdp_port}"]
    lines += [f"{name}: {headers[name]}" for name in FORWARDED_UPGRADE_HEADERS if headers.get(name)]
    try:
        upstream.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin1"))
        head, rest = _read_head(upstream)
    except (OSError, ValueError) as exc:
        upstream.close()
        raise ApiError(502, f"the sandbox's browser broke off the upgrade ({exc})") from exc
    status = _status_of(head)
    client.sendall(head + rest)
    if status != 101:
        upstream.close()
        return status
    upstream.settimeout(None)
    _splice(client, rfile, upstream)
    return status


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(CHUNK_BYTES)
        if not chunk:
            raise ValueError("the connection ended before the response head did")
        data += chunk
        if len(data) > RESPONSE_HEAD_LIMIT:
            raise ValueError("response head too large")
    head, rest = data.split(b"\r\n\r\n", 1)
    return head + b"\r\n\r\n", rest


def _status_of(head: bytes) -> int:
    try:
        return int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 502


def _splice(client: socket.socket, rfile: BinaryIO, upstream: socket.socket) -> None:
    """Both ways until either side ends. Client bytes are read through `rfile`: the HTTP
    parser may already hold some in its buffer."""

    def downstream() -> None:
        try:
            while data := upstream.recv(CHUNK_BYTES):
                client.sendall(data)
        except OSError:
            pass
        _shutdown(client)

    back = threading.Thread(target=downstream, name="relay-down", daemon=True)
    back.start()
    try:
        while data := rfile.read1(CHUNK_BYTES):  # type: ignore[attr-defined]
            upstream.sendall(data)
    except OSError:
        pass
    _shutdown(upstream)
    back.join()
    upstream.close()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


# --- /vnc ---------------------------------------------------------------------------------------


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode("ascii")).digest()).decode("ascii")


def relay_vnc(client: socket.socket, rfile: BinaryIO, headers: http.client.HTTPMessage, vnc_socket: str) -> None:
    """End the WebSocket here and relay its bytes to and from x11vnc's unix socket."""
    key = headers.get("Sec-WebSocket-Key", "").strip()
    if headers.get("Sec-WebSocket-Version", "").strip() != "13" or len(key) != 24:
        raise ApiError(400, "a WebSocket upgrade needs Sec-WebSocket-Version 13 and a Sec-WebSocket-Key")
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    upstream.settimeout(UPSTREAM_TIMEOUT_SECONDS)
    try:
        upstream.connect(vnc_socket)
    except OSError as exc:
        upstream.close()
        raise ApiError(502, f"the sandbox's VNC server does not answer ({exc.strerror or exc})") from exc
    upstream.settimeout(None)
    offered = [p.strip() for p in headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept_key(key)}",
    ]
    if "binary" in offered:
        lines.append("Sec-WebSocket-Protocol: binary")
    client.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("ascii"))
    ws = _ServerWebSocket(client, rfile)

    def downstream() -> None:
        try:
            while data := upstream.recv(CHUNK_BYTES):
                ws.send(OP_BINARY, data)
            ws.send(OP_CLOSE, struct.pack("!H", 1000))
        except OSError:
            pass
        _shutdown(client)

    back = threading.Thread(target=downstream, name="relay-vnc-down", daemon=True)
    back.start()
    try:
        while (payload := ws.receive()) is not None:
            upstream.sendall(payload)
    except (OSError, _ProtocolError) as exc:
        log.info("vnc relay: %s", exc)
        with contextlib.suppress(OSError):
            ws.send(OP_CLOSE, struct.pack("!H", 1002 if isinstance(exc, _ProtocolError) else 1011))
    _shutdown(upstream)
    back.join()
    upstream.close()


class _ProtocolError(Exception):
    pass


class _ServerWebSocket:
    """The server end of RFC 6455, just what a byte relay needs."""

    def __init__(self, sock: socket.socket, rfile: BinaryIO) -> None:
        self.sock, self.rfile = sock, rfile
        self._send_lock = threading.Lock()

    def send(self, opcode: int, payload: bytes) -> None:
        size = len(payload)
        if size < 126:
            head = struct.pack("!BB", 0x80 | opcode, size)
        elif size < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 126, size)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
        with self._send_lock:
            self.sock.sendall(head + payload)

    def receive(self) -> bytes | None:
        """The next data frame's payload; None when the client closed."""
        while True:
            head = self._exactly(2)
            if head is None:
                return None
            opcode, masked, size = head[0] & 0x0F, head[1] & 0x80, head[1] & 0x7F
            if size == 126:
                size = struct.unpack("!H", self._need(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", self._need(8))[0]
            if not masked:
                raise _ProtocolError("client frames must be masked")
            if size > MAX_CLIENT_FRAME_BYTES:
                raise _ProtocolError(f"frame of {size} bytes is over {MAX_CLIENT_FRAME_BYTES}")
            mask = self._need(4)
            payload = _unmask(self._need(size), mask)
            if opcode in (OP_CONT, OP_TEXT, OP_BINARY):
                return payload
            if opcode == OP_CLOSE:
                with contextlib.suppress(OSError):
                    self.send(OP_CLOSE, payload[:2])
                return None
            if opcode == OP_PING:
                self.send(OP_PONG, payload[:125])
            elif opcode != OP_PONG:
                raise _ProtocolError(f"unknown opcode {opcode}")

    def _exactly(self, size: int) -> bytes | None:
        data = self.rfile.read(size)
        if len(data) < size:
            return None
        return data

    def _need(self, size: int) -> bytes:
        data = self._exactly(size) if size else b""
        if data is None:
            raise _ProtocolError("the connection ended inside a frame")
        return data


def _unmask(data: bytes, mask: bytes) -> bytes:
    if not data:
        return data
    # XOR with the 4-byte key repeated, as one big integer: fast in pure Python.
    length = len(data)
    key = (mask * (length // 4 + 1))[:length]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(length, "big")
