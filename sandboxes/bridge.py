"""A loopback TCP port that relays to a unix socket, for clients that only speak TCP.

Playwright's `connect_over_cdp` needs a TCP URL, while a local sandbox's tool API (and its
authenticated `/cdp` relay) is the `api.sock` of its jail (backends/local/). The browser tool
opens one bridge per turn and closes it with the turn. The bridge is only a pipe: whoever else
connects to its port meets the tool API, which answers 401 without the sandbox's token.
"""

from __future__ import annotations

import contextlib
import socket
import threading

CHUNK_BYTES = 65536
CONNECT_TIMEOUT_SECONDS = 10.0


class UnixSocketBridge:
    def __init__(self, path: str) -> None:
        self.path = path
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._closed = False
        threading.Thread(target=self._accept, name="unix-bridge", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.settimeout(CONNECT_TIMEOUT_SECONDS)
            try:
                upstream.connect(self.path)
            except OSError:
                client.close()
                upstream.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._closed:
                    client.close()
                    upstream.close()
                    return
                self._open.update((client, upstream))
            threading.Thread(target=self._relay, args=(client, upstream), name="unix-bridge-conn", daemon=True).start()

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        splice(client, upstream)
        with self._lock:
            self._open.difference_update((client, upstream))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sockets, self._open = list(self._open), set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
        self._listener.close()
        for sock in sockets:  # ends both pumps of each connection; splice() then closes them
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def splice(a: socket.socket, b: socket.socket) -> None:
    """Relay both ways until both directions ended, then close both sockets."""
    back = threading.Thread(target=_pump, args=(b, a), name="splice-pump", daemon=True)
    back.start()
    _pump(a, b)
    back.join()
    a.close()
    b.close()


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(CHUNK_BYTES):
            target.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)  # pass the end on
