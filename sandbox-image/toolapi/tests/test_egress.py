"""The jail's egress forwarder: 127.0.0.1:PORT relayed to a unix socket, both ways."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from toolapi.egress import start_forwarder


def test_the_forwarder_relays_to_the_unix_socket_and_answers_502_without_it(tmp_path: Path) -> None:
    path = str(tmp_path / "egress.sock")
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    upstream.bind(path)
    upstream.listen()

    def serve() -> None:
        conn, _ = upstream.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data.upper())

    threading.Thread(target=serve, daemon=True).start()
    listener = start_forwarder(0, path)
    port = listener.getsockname()[1]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"anchor")
            assert conn.recv(100) == b"ANCHOR"
        upstream.close()
        Path(path).unlink()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            assert conn.recv(100).startswith(b"HTTP/1.1 502 Bad Gateway")
    finally:
        listener.close()
