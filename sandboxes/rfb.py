"""A minimal parser of the RFB (VNC) client-to-server stream, to enforce view-only access.

View-only keeps the handshake and the messages that only ask for pixels (SetPixelFormat,
SetEncodings, FramebufferUpdateRequest) and drops input (KeyEvent, PointerEvent,
ClientCutText). Anything it cannot parse raises `RfbProtocolError`: the proxy then closes
the connection rather than forward bytes it does not understand.

Memory is bounded: a dropped message is skipped as its bytes arrive (never buffered whole), and
a clipboard message longer than MAX_CUT_TEXT_BYTES is refused outright, so a client announcing
2 GiB of clipboard cannot make the web process hold it.
"""

from __future__ import annotations

import re
import struct

SET_PIXEL_FORMAT, SET_ENCODINGS, FRAMEBUFFER_UPDATE_REQUEST = 0, 2, 3
KEY_EVENT, POINTER_EVENT, CLIENT_CUT_TEXT = 4, 5, 6
SECURITY_NONE, SECURITY_VNC_AUTH = 1, 2
INPUT_MESSAGES = frozenset({KEY_EVENT, POINTER_EVENT, CLIENT_CUT_TEXT})
# A view-only client has no business sending clipboard text; noVNC's Extended Clipboard
# capabilities are a few dozen bytes. Longer ones end the connection.
MAX_CUT_TEXT_BYTES = 64 * 1024
_VERSION = re.compile(rb"RFB (\d{3})\.(\d{3})\n")


class RfbProtocolError(Exception):
    pass


class ViewOnlyFilter:
    """Feed it client bytes as they arrive; it returns the bytes to forward."""

    def __init__(self) -> None:
        self._buffer = b""
        self._stage = "version"
        self._security = 0
        self._skip = 0  # bytes of a dropped message still to come
        self._server_head = b""  # the server's version and, in 3.3, the security type it chose

    def observe_server(self, data: bytes) -> None:
        """Feed it the server's bytes too: in RFB 3.3 the server alone picks the security type,
        which decides whether the client's next 16 bytes are a VNC-auth response."""
        if len(self._server_head) < 16:
            self._server_head += data[: 16 - len(self._server_head)]

    def feed(self, data: bytes) -> bytes:
        if self._skip:
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            data = data[dropped:]
        self._buffer += data
        out = bytearray()
        while True:
            size = self._next_size()
            if size is None:
                return bytes(out)
            if self._stage == "messages" and self._buffer[0] in INPUT_MESSAGES:
                # Dropped: discard what is here, and the rest as it arrives.
                dropped = min(size, len(self._buffer))
                self._buffer = self._buffer[dropped:]
                self._skip = size - dropped
                if self._skip:
                    return bytes(out)
                continue
            if len(self._buffer) < size:
                return bytes(out)
            chunk, self._buffer = self._buffer[:size], self._buffer[size:]
            out += chunk
            self._advance(chunk)

    def _next_size(self) -> int | None:
        """The length of the next client unit, or None when more bytes are needed to tell.
        Every unit is at most 4 + 4 * 65535 bytes (SetEncodings) or MAX_CUT_TEXT_BYTES + 8."""
        buf = self._buffer
        if self._stage == "version":
            return 12
        if self._stage == "server_security":
            if len(self._server_head) < 16:
                if self._buffer:
                    raise RfbProtocolError("the client spoke before the server chose the security type")
                return None
            chosen = struct.unpack(">I", self._server_head[12:16])[0]
            if chosen not in (SECURITY_NONE, SECURITY_VNC_AUTH):
                raise RfbProtocolError(f"the server chose security type {chosen}")
            self._stage = "vnc_auth" if chosen == SECURITY_VNC_AUTH else "client_init"
            return self._next_size()
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
            if len(buf) < 8:
                return None
            length = abs(struct.unpack(">i", buf[4:8])[0])
            if length > MAX_CUT_TEXT_BYTES:
                raise RfbProtocolError(f"clipboard message of {length} bytes is over the {MAX_CUT_TEXT_BYTES} limit")
            return 8 + length
        raise RfbProtocolError(f"client message type {kind} is not allowed in view-only mode")

    def _advance(self, chunk: bytes) -> None:
        if self._stage == "version":
            match = _VERSION.fullmatch(chunk)
            if match is None:
                raise RfbProtocolError("not an RFB client")
            major, minor = int(match[1]), int(match[2])
            # Like libvncserver: a 3.x client below 3.7 speaks 3.3, where the server picks the
            # security type and the client sends no choice (3.4-3.6 were never specified).
            self._stage = "server_security" if major == 3 and minor < 7 else "security"
        elif self._stage == "security":
            self._security = chunk[0]
            self._stage = "vnc_auth" if self._security == SECURITY_VNC_AUTH else "client_init"
        elif self._stage == "vnc_auth":
            self._stage = "client_init"
        elif self._stage == "client_init":
            self._stage = "messages"
