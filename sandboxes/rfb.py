"""A minimal parser of the RFB (VNC) client-to-server stream, to enforce view-only access.

View-only keeps the handshake and the messages that only ask for pixels (SetPixelFormat,
SetEncodings, FramebufferUpdateRequest) and drops input (KeyEvent, PointerEvent,
ClientCutText). Anything it cannot parse raises `RfbProtocolError`: the proxy then closes
the connection rather than forward bytes it does not understand.
"""

from __future__ import annotations

import struct

SET_PIXEL_FORMAT, SET_ENCODINGS, FRAMEBUFFER_UPDATE_REQUEST = 0, 2, 3
KEY_EVENT, POINTER_EVENT, CLIENT_CUT_TEXT = 4, 5, 6
SECURITY_NONE, SECURITY_VNC_AUTH = 1, 2
INPUT_MESSAGES = frozenset({KEY_EVENT, POINTER_EVENT, CLIENT_CUT_TEXT})


class RfbProtocolError(Exception):
    pass


class ViewOnlyFilter:
    """Feed it client bytes as they arrive; it returns the bytes to forward."""

    def __init__(self) -> None:
        self._buffer = b""
        self._stage = "version"
        self._security = 0

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        out = bytearray()
        while True:
            size = self._next_size()
            if size is None or len(self._buffer) < size:
                return bytes(out)
            chunk, self._buffer = self._buffer[:size], self._buffer[size:]
            if self._stage == "messages" and chunk[0] in INPUT_MESSAGES:
                continue
            out += chunk
            self._advance(chunk)

    def _next_size(self) -> int | None:
        """The length of the next client unit, or None when more bytes are needed to tell."""
        buf = self._buffer
        if self._stage == "version":
            return 12
        if self._stage in ("security", "client_init"):
            return 1
        if self._stage == "vnc_auth":
            return 16
        if not buf:
            return None
        kind = buf[0]
        if kind == SET_PIXEL_FORMAT:
            return 20
        if kind == FRAMEBUFFER_UPDATE_REQUEST:
            return 10
        if kind == KEY_EVENT:
            return 8
        if kind == POINTER_EVENT:
            return 6
        if kind == SET_ENCODINGS:
            return None if len(buf) < 4 else 4 + 4 * struct.unpack(">H", buf[2:4])[0]
        if kind == CLIENT_CUT_TEXT:
            # A negative length is the Extended Clipboard form (noVNC sends its capabilities so
            # right after the handshake): the text or message is abs(length) bytes long.
            return None if len(buf) < 8 else 8 + abs(struct.unpack(">i", buf[4:8])[0])
        raise RfbProtocolError(f"client message type {kind} is not allowed in view-only mode")

    def _advance(self, chunk: bytes) -> None:
        if self._stage == "version":
            if not chunk.startswith(b"RFB "):
                raise RfbProtocolError("not an RFB client")
            # RFB 3.3: the server picks the security type, the client sends no choice.
            self._stage = "client_init" if chunk == b"RFB 003.003\n" else "security"
        elif self._stage == "security":
            self._security = chunk[0]
            self._stage = "vnc_auth" if self._security == SECURITY_VNC_AUTH else "client_init"
        elif self._stage == "vnc_auth":
            self._stage = "client_init"
        elif self._stage == "client_init":
            self._stage = "messages"
