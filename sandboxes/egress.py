"""The egress proxy of a local sandbox: the jail's only way to the network.

A bubblewrap jail has no network namespace of its own with a route out, on purpose: sharing
the host's would hand the agent every loopback service (Redis, MongoDB, the database). Instead
the backend serves this HTTP forward proxy on a unix socket bound into the jail (the tool API
relays 127.0.0.1:3128 in the jail to it, see sandbox-image/toolapi/egress.py). It speaks the two
forms every client uses — `CONNECT host:port` tunnels (HTTPS) and absolute-URI requests (plain
HTTP) — and connects only to public addresses: a name that resolves to a loopback, private,
link-local or multicast address is refused with 403 (SANDBOX_EGRESS_ALLOW_PRIVATE lifts that,
for tests and trusted networks). The address checked is the address connected to, so a name
cannot be re-pointed in between. Tunnels go only to SANDBOX_EGRESS_CONNECT_PORTS (443 unless
configured), plain HTTP only to port 80 or 1024 and up. Each connection is one request
(`Connection: close`).

One sandbox cannot exhaust the worker that serves its proxy: it holds at most `max_connections`
at once (SANDBOX_EGRESS_MAX_CONNECTIONS; past that a connection is answered 503 and closed), a
request head must arrive within HEAD_DEADLINE_SECONDS, and a connection on which neither side
sent anything for `idle_seconds` (SANDBOX_EGRESS_IDLE_SECONDS) is closed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from urllib.parse import urlsplit

from anker_project.net import AddressRefusedError, public_addresses

logger = logging.getLogger(__name__)

HEAD_LIMIT_BYTES = 64 * 1024
CONNECT_TIMEOUT_SECONDS = 10.0
IDLE_TIMEOUT_SECONDS = 300.0
HEAD_DEADLINE_SECONDS = 30.0
BUSY_REPLY_TIMEOUT_SECONDS = 1.0
ACCEPT_POLL_SECONDS = 2.0
CHUNK_BYTES = 65536
HOP_BY_HOP = {b"proxy-connection", b"proxy-authorization", b"connection", b"keep-alive"}
# Plain HTTP goes to port 80 or an unprivileged port, never to mail, SSH and the like (an HTTP
# request sent to an SMTP server is a classic cross-protocol abuse).
HTTP_PORTS = frozenset({80}) | frozenset(range(1024, 65536))


class _RefusedError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


# What one proxy serving a whole Docker sandbox network (not one jail) may hold at once.
SHARED_MAX_CONNECTIONS = 1024


class EgressProxy:
    """Serves one sandbox's egress on `socket_path` (mode 0600) until closed or until the
    socket file disappears (the sandbox's directory was removed by another process); or, with
    `tcp_address`, the Docker sandboxes' egress on a TCP address until closed."""

    def __init__(
        self,
        socket_path: str = "",
        *,
        allow_private: bool = False,
        connect_ports: frozenset[int] | None = frozenset({443}),
        max_connections: int = 64,
        idle_seconds: float = IDLE_TIMEOUT_SECONDS,
        tcp_address: tuple[str, int] | None = None,
    ) -> None:
        """`connect_ports`: where CONNECT tunnels may go; None allows every port.
        `tcp_address`: listen on this (host, port) instead of a unix socket (the Docker
        backend's sandbox network; the sandboxes' firewall lets them reach only it). Such a
        proxy serves every sandbox of the network: `max_connections` is then their total."""
        self.socket_path, self.allow_private, self.connect_ports = socket_path, allow_private, connect_ports
        self.idle_seconds = idle_seconds
        self._slots = threading.BoundedSemaphore(max_connections)
        if tcp_address is not None:
            self._listener = socket.create_server(tcp_address, backlog=64)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(socket_path)
            self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._listener.bind(socket_path)
            os.chmod(socket_path, 0o600)
            self._listener.listen(64)
        self._listener.settimeout(ACCEPT_POLL_SECONDS)
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="egress-proxy", daemon=True).start()

    @property
    def address(self) -> tuple[str, int]:
        """The TCP address it listens on (with `tcp_address`)."""
        host, port = self._listener.getsockname()[:2]
        return str(host), int(port)

    def serve_forever(self) -> None:
        """Block until closed (the `sandbox_egress_proxy` command)."""
        self._closed.wait()

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
        self._listener.close()
        if self.socket_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.socket_path)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                if self.socket_path and not os.path.exists(self.socket_path):
                    break  # the sandbox is gone
                continue
            except OSError:
                break
            if not self._slots.acquire(blocking=False):
                _refuse_busy(conn)
                continue
            threading.Thread(target=self._serve, args=(conn,), name="egress-conn", daemon=True).start()
        self._listener.close()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._handle(conn)
        finally:
            self._slots.release()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(min(self.idle_seconds, HEAD_DEADLINE_SECONDS))
        try:
            head, rest = _read_head(conn, deadline=time.monotonic() + HEAD_DEADLINE_SECONDS)
            upstream, first_bytes, reply = self._open(head)
        except _RefusedError as refused:
            body = (refused.message + "\n").encode()
            with contextlib.suppress(OSError):
                conn.sendall(
                    f"HTTP/1.1 {refused.status} {refused.reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
            conn.close()
            return
        except OSError:
            conn.close()
            return
        try:
            if reply:
                conn.sendall(reply)
            upstream.sendall(first_bytes + rest)
        except OSError:
            conn.close()
            upstream.close()
            return
        _relay(conn, upstream, idle_seconds=self.idle_seconds)

    def _open(self, head: bytes) -> tuple[socket.socket, bytes, bytes]:
        """Connect upstream for this request: (socket, bytes to send it first, reply to the client)."""
        lines = head.split(b"\r\n")
        try:
            method, target, version = lines[0].split(b" ", 2)
        except ValueError:
            raise _RefusedError(400, "Bad Request", "not an HTTP proxy request") from None
        if method == b"CONNECT":
            host, port = _host_port(target.decode("latin1"), default_port=443)
            if self.connect_ports is not None and port not in self.connect_ports:
                allowed = ", ".join(str(p) for p in sorted(self.connect_ports))
                raise _RefusedError(
                    403, "Forbidden", f"Anker's sandbox network tunnels only to port {allowed}, not {port}"
                )
            return self._connect(host, port), b"", b"HTTP/1.1 200 Connection established\r\n\r\n"
        url = urlsplit(target.decode("latin1"))
        if url.scheme != "http" or not url.hostname:
            raise _RefusedError(400, "Bad Request", "send http:// URLs, or CONNECT for https")
        try:
            port = url.port or 80
        except ValueError:
            raise _RefusedError(400, "Bad Request", "bad port") from None
        if port not in HTTP_PORTS:
            raise _RefusedError(
                403, "Forbidden", f"Anker's sandbox network sends HTTP only to port 80 or 1024+, not {port}"
            )
        upstream = self._connect(url.hostname, port)
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        headers = [line for line in lines[1:] if line and line.split(b":", 1)[0].strip().lower() not in HOP_BY_HOP]
        first = b"\r\n".join([method + b" " + path.encode("latin1") + b" " + version, *headers, b"Connection: close"])
        return upstream, first + b"\r\n\r\n", b""

    def _connect(self, host: str, port: int) -> socket.socket:
        try:
            addresses = public_addresses(host, port, allow_private=self.allow_private)
        except AddressRefusedError as exc:
            logger.info("sandbox egress refused %s:%d: %s", host, port, exc)
            raise _RefusedError(403, "Forbidden", f"Anker's sandbox network refuses {host}: {exc}") from None
        last: OSError | None = None
        for address in addresses:
            try:
                return socket.create_connection((address, port), timeout=CONNECT_TIMEOUT_SECONDS)
            except OSError as exc:
                last = exc
        raise _RefusedError(502, "Bad Gateway", f"cannot connect to {host}:{port}: {last}")


def _refuse_busy(conn: socket.socket) -> None:
    """Answer 503 on the accept thread (briefly: a client that does not read is just closed)."""
    body = b"Anker's sandbox network: too many open connections from this sandbox; close some first.\n"
    with contextlib.suppress(OSError):
        conn.settimeout(BUSY_REPLY_TIMEOUT_SECONDS)
        conn.sendall(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
    conn.close()


def _relay(a: socket.socket, b: socket.socket, *, idle_seconds: float) -> None:
    """Relay both ways until both directions ended, or until neither side sent a byte for
    `idle_seconds`; then close both sockets. (A download that streams while the client stays
    silent is not idle.)"""
    last = [time.monotonic()]
    done = threading.Event()

    def pump(source: socket.socket, target: socket.socket) -> None:
        source.settimeout(idle_seconds)
        try:
            while not done.is_set():
                try:
                    data = source.recv(CHUNK_BYTES)
                except TimeoutError:
                    if time.monotonic() - last[0] >= idle_seconds:
                        break  # idle both ways: end the connection
                    continue
                if not data:
                    with contextlib.suppress(OSError):
                        target.shutdown(socket.SHUT_WR)  # pass the end on
                    return
                last[0] = time.monotonic()
                target.sendall(data)
        except OSError:
            pass
        done.set()  # idle or broken: the other direction ends too
        for sock in (a, b):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    back = threading.Thread(target=pump, args=(b, a), name="egress-pump", daemon=True)
    back.start()
    pump(a, b)
    back.join()
    a.close()
    b.close()


def _read_head(conn: socket.socket, *, deadline: float) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        if time.monotonic() > deadline:
            raise _RefusedError(408, "Request Timeout", "the request head took too long")
        try:
            chunk = conn.recv(CHUNK_BYTES)
        except TimeoutError:
            raise _RefusedError(408, "Request Timeout", "the request head stalled") from None
        if not chunk:
            raise _RefusedError(400, "Bad Request", "the request ended before its headers did")
        data += chunk
        if len(data) > HEAD_LIMIT_BYTES:
            raise _RefusedError(431, "Request Header Fields Too Large", "request head over 64 KB")
    head, rest = data.split(b"\r\n\r\n", 1)
    return head, rest


def _host_port(authority: str, *, default_port: int) -> tuple[str, int]:
    if authority.startswith("["):  # [v6]:port
        host, _, port = authority[1:].partition("]")
        port = port.removeprefix(":")
    else:
        host, _, port = authority.rpartition(":") if ":" in authority else (authority, "", "")
    try:
        return host, int(port) if port else default_port
    except ValueError:
        raise _RefusedError(400, "Bad Request", f"bad port in {authority!r}") from None
