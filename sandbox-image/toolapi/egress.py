"""The jail's way out: a loopback TCP port relayed to the host's egress proxy socket.

A local (bubblewrap) sandbox has no network, only its own loopback. When the backend binds a
unix socket of its egress proxy into the jail and sets TOOLAPI_EGRESS_SOCKET, the tool API
listens on 127.0.0.1:TOOLAPI_EGRESS_PORT (3128) and relays every connection to that socket, so
`http_proxy=http://127.0.0.1:3128` works for the shell's tools and for Chromium. What may be
reached is the proxy's decision, on the host.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading

logger = logging.getLogger(__name__)

CHUNK_BYTES = 65536


def start_forwarder(port: int, socket_path: str) -> socket.socket:
    listener = socket.create_server(("127.0.0.1", port), reuse_port=False)
    threading.Thread(target=_accept, args=(listener, socket_path), name="egress", daemon=True).start()
    logger.info("egress: 127.0.0.1:%d -> %s", port, socket_path)
    return listener


def _accept(listener: socket.socket, socket_path: str) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(socket_path)
        except OSError as exc:
            logger.warning("egress: the host's proxy does not answer (%s)", exc)
            with contextlib.suppress(OSError):
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            client.close()
            upstream.close()
            continue
        threading.Thread(target=splice, args=(client, upstream), name="egress-conn", daemon=True).start()


def splice(a: socket.socket, b: socket.socket) -> None:
    """Relay both ways until both directions ended, then close both sockets."""
    back = threading.Thread(target=_pump, args=(b, a), name="egress-pump", daemon=True)
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
