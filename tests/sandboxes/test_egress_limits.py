"""A sandbox cannot exhaust the worker through its egress proxy: connections per sandbox are
bounded, and connections idle both ways are closed."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandboxes.egress import EgressProxy


def connect(proxy: EgressProxy) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(15)
    conn.connect(proxy.socket_path)
    return conn


def read_all(conn: socket.socket) -> bytes:
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data


@pytest.fixture
def ticker() -> Iterator[int]:
    """A TCP server that, once connected, sends b"tick" every 0.2 s, 15 times, then closes."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with server:
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                with conn:
                    try:
                        for _ in range(15):
                            conn.sendall(b"tick")
                            time.sleep(0.2)
                    except OSError:
                        pass

    threading.Thread(target=serve, daemon=True).start()
    yield int(server.getsockname()[1])
    server.close()


def test_connections_past_the_limit_are_answered_503_and_a_freed_slot_is_reused(tmp_path: Path) -> None:
    proxy = EgressProxy(str(tmp_path / "egress.sock"), max_connections=3)
    try:
        held = [connect(proxy) for _ in range(3)]  # open, saying nothing: each holds a slot
        time.sleep(0.2)
        over = connect(proxy)
        refused = read_all(over)
        held.pop().close()
        deadline = time.monotonic() + 10
        while True:  # the freed slot takes a moment to be released by its thread
            again = connect(proxy)
            # Still refused if the proxy answered 503 and closed before the request went out.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                again.sendall(b"CONNECT 10.1.2.3:443 HTTP/1.1\r\n\r\n")
            try:
                answer = read_all(again)
            except ConnectionResetError:
                answer = b"HTTP/1.1 503 (reset)"
            again.close()
            if not answer.startswith(b"HTTP/1.1 503") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        for conn in held:
            conn.close()
    finally:
        proxy.close()

    assert refused.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"too many open connections from this sandbox" in refused
    assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n")  # served: refused for its address, not for load


def test_a_connection_that_never_sends_its_request_is_closed(tmp_path: Path) -> None:
    proxy = EgressProxy(str(tmp_path / "egress.sock"), idle_seconds=0.5)
    try:
        conn = connect(proxy)
        conn.sendall(b"CONNECT ")  # and then nothing
        answer = read_all(conn)  # returns once the proxy closes the connection
        conn.close()
    finally:
        proxy.close()

    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")


def test_an_idle_tunnel_is_closed_and_a_busy_one_is_not(tmp_path: Path, ticker: int) -> None:
    proxy = EgressProxy(str(tmp_path / "egress.sock"), allow_private=True, connect_ports=None, idle_seconds=1.0)
    listener = socket.create_server(("127.0.0.1", 0))  # accepts, then stays silent
    silent_port = int(listener.getsockname()[1])
    try:
        busy = connect(proxy)
        busy.sendall(f"CONNECT 127.0.0.1:{ticker} HTTP/1.1\r\n\r\n".encode())
        received = read_all(busy)  # 3 s of ticks, the client silent all along
        idle = connect(proxy)
        idle.sendall(f"CONNECT 127.0.0.1:{silent_port} HTTP/1.1\r\n\r\n".encode())
        closed = read_all(idle)  # returns only because the proxy closed the idle tunnel
        busy.close()
        idle.close()
    finally:
        listener.close()
        proxy.close()

    assert received == b"HTTP/1.1 200 Connection established\r\n\r\n" + b"tick" * 15
    assert closed == b"HTTP/1.1 200 Connection established\r\n\r\n"
