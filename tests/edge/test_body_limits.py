"""Request bodies are refused at the edge with a 413 envelope before anything stores them."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from channels.testing import HttpCommunicator
from rest_framework_simplejwt.tokens import RefreshToken

from anker_project.asgi import application
from anker_project.mongo import get_db
from tests.conftest import make_user
from tests.edge.conftest import Web

MIB = 1024 * 1024
FIVE_GB = 5 * 1024**3


@pytest.fixture(scope="module")
def web(start_web: Callable[..., Web]) -> Web:
    return start_web(FILE_UPLOAD_MAX_BYTES=str(2 * MIB))


def read_response(sock: socket.socket) -> tuple[bytes, dict[str, Any]]:
    """The status line and JSON body of one response (Content-Length framed)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return lines[0], json.loads(body[:length])


class Sender(threading.Thread):
    """Sends a body until the server stops taking it (or `total` bytes went out)."""

    def __init__(self, sock: socket.socket, total: int, *, chunked: bool) -> None:
        super().__init__(daemon=True)
        self.sock, self.total, self.chunked = sock, total, chunked
        self.sent = 0
        self.error: OSError | None = None

    def run(self) -> None:
        piece = b"[" * 65536
        frame = (b"%x\r\n" % len(piece) + piece + b"\r\n") if self.chunked else piece
        try:
            while self.sent < self.total:
                self.sock.sendall(frame)
                self.sent += len(piece)
        except OSError as exc:
            self.error = exc


def post_streaming(web: Web, path: str, *, declared: int | None, total: int, ctype: str) -> tuple[Sender, bytes, Any]:
    sock = socket.create_connection(("127.0.0.1", web.port), timeout=60)
    framing = f"Content-Length: {declared}" if declared is not None else "Transfer-Encoding: chunked"
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n{framing}\r\n\r\n".encode())
    sender = Sender(sock, total, chunked=declared is None)
    sender.start()
    try:
        status, body = read_response(sock)
        sender.join(timeout=60)
    finally:
        sock.close()
    return sender, status, body


def json_limit_body(limit: int = MIB) -> dict[str, Any]:
    return {
        "code": 413,
        "msg": f"The request body is larger than the {limit} byte limit of this endpoint; send less.",
        "data": {"limit_bytes": limit},
    }


def test_a_5_gb_chunked_body_is_refused_early_without_filling_memory_or_disk(web: Web) -> None:
    rss_before = web.rss_bytes()

    sender, status, body = post_streaming(
        web, "/api/v1/sessions", declared=None, total=FIVE_GB, ctype="application/json"
    )

    assert (status, body) == (b"HTTP/1.1 413 Content Too Large", json_limit_body())
    assert not sender.is_alive() and sender.error is not None  # the server cut the connection…
    assert sender.sent < 64 * MIB  # …long before 5 GB: it read and dropped only a few MiB past the limit
    assert web.rss_bytes() - rss_before < 64 * MIB
    assert web.spooled_bytes() == 0
    assert httpx.get(f"{web.url}/api/v1/auth/me").status_code == 401  # still serving


def test_a_declared_5_gb_body_is_refused_before_a_byte_of_it_is_read(web: Web) -> None:
    sock = socket.create_connection(("127.0.0.1", web.port), timeout=30)
    try:
        sock.sendall(
            f"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {FIVE_GB}\r\n\r\n".encode()
        )
        status, body = read_response(sock)
    finally:
        sock.close()

    assert (status, body) == (b"HTTP/1.1 413 Content Too Large", json_limit_body())


def test_a_64_mb_json_login_body_is_a_413_envelope_not_a_500(web: Web) -> None:
    sender, status, body = post_streaming(
        web, "/api/v1/auth/login", declared=64 * MIB, total=64 * MIB, ctype="application/json"
    )

    assert (status, body) == (b"HTTP/1.1 413 Content Too Large", json_limit_body())
    assert sender.error is not None and sender.sent < 32 * MIB


@pytest.mark.django_db(transaction=True)
def test_uploads_may_reach_the_file_cap_and_not_a_byte_more(web: Web) -> None:
    user = make_user("uploader")
    headers = {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}
    files = get_db()["files.files"]

    small = httpx.post(f"{web.url}/api/v1/files", files={"file": ("a.bin", b"a" * MIB)}, headers=headers, timeout=60)
    large = httpx.post(
        f"{web.url}/api/v1/files", files={"file": ("b.bin", b"b" * (3 * MIB))}, headers=headers, timeout=60
    )

    assert small.status_code == 200, small.text
    limit = 2 * MIB + 64 * 1024
    assert (large.status_code, large.json()) == (413, json_limit_body(limit))
    assert [doc["filename"] for doc in files.find({"metadata.owner_id": user.pk})] == ["a.bin"]


def test_a_multipart_body_to_any_other_endpoint_gets_the_json_limit(web: Web) -> None:
    response = httpx.post(f"{web.url}/api/v1/auth/login", files={"username": ("u", b"u" * (2 * MIB))}, timeout=60)

    assert (response.status_code, response.json()) == (413, json_limit_body())


@pytest.mark.django_db
async def test_the_asgi_middleware_counts_a_body_that_declares_no_length() -> None:
    """Behind another ASGI server (no daphne patch): the bytes are counted as the app receives them."""
    communicator = HttpCommunicator(
        application,
        "POST",
        "/api/v1/auth/login",
        body=b"{" * (MIB + 1),
        headers=[(b"content-type", b"application/json")],
    )
    response = await communicator.get_response(timeout=10)

    assert response["status"] == 413
    assert json.loads(response["body"]) == json_limit_body()
