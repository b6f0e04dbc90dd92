"""The local backend's network: an egress proxy on a unix socket, public addresses only.

The proxy is tested on its own (HTTP and CONNECT, refusals, bad requests) and from inside real
jails (curl in the agent's shell, with and without the proxy)."""

from __future__ import annotations

import http.server
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandboxes.backends import SandboxEndpoint, get_backend
from sandboxes.egress import EgressProxy
from sandboxes.tool_api import ToolApiClient


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello {self.path} via {self.headers.get('Connection')}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def web() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def ask(proxy: EgressProxy, request: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(proxy.socket_path)
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        return data


def test_plain_http_is_forwarded_in_origin_form_with_connection_close(tmp_path: Path, web: int) -> None:
    proxy = EgressProxy(str(tmp_path / "egress.sock"), allow_private=True)
    assert (tmp_path / "egress.sock").stat().st_mode & 0o777 == 0o600  # only Anker's user connects
    try:
        answer = ask(
            proxy,
            f"GET http://127.0.0.1:{web}/page?q=1 HTTP/1.1\r\nHost: 127.0.0.1:{web}\r\n"
            "Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic eA==\r\n\r\n".encode(),
        )
    finally:
        proxy.close()
    assert answer.startswith(b"HTTP/1.0 200")
    assert answer.endswith(b"hello /page?q=1 via close")


def test_connect_tunnels_bytes_both_ways(tmp_path: Path) -> None:
    echo = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = echo.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data[::-1])

    threading.Thread(target=serve, daemon=True).start()
    proxy = EgressProxy(str(tmp_path / "egress.sock"), allow_private=True, connect_ports=None)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(10)
            conn.connect(proxy.socket_path)
            port = echo.getsockname()[1]
            conn.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            assert conn.recv(100) == b"HTTP/1.1 200 Connection established\r\n\r\n"
            conn.sendall(b"anchor")
            assert conn.recv(100) == b"rohcna"
    finally:
        proxy.close()
        echo.close()


@pytest.mark.parametrize(
    "request_head",
    [
        "GET http://127.0.0.1:{web}/ HTTP/1.1\r\n\r\n",
        "CONNECT 127.0.0.1:{web} HTTP/1.1\r\n\r\n",
        "CONNECT 10.1.2.3:443 HTTP/1.1\r\n\r\n",
        "CONNECT 169.254.169.254:80 HTTP/1.1\r\n\r\n",
        "GET http://[::1]:{web}/ HTTP/1.1\r\n\r\n",
        "GET http://localhost:{web}/ HTTP/1.1\r\n\r\n",
    ],
)
def test_loopback_private_and_link_local_targets_are_refused_by_default(
    tmp_path: Path, web: int, request_head: str
) -> None:
    proxy = EgressProxy(str(tmp_path / "egress.sock"), connect_ports=None)  # the address alone decides
    try:
        answer = ask(proxy, request_head.format(web=web).encode())
    finally:
        proxy.close()
    assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n"), answer
    assert b"Anker's sandbox network refuses" in answer


@pytest.mark.parametrize(
    ("request_head", "message"),
    [
        ("CONNECT 127.0.0.1:22 HTTP/1.1\r\n\r\n", b"tunnels only to port 443, not 22"),
        ("CONNECT 127.0.0.1:8443 HTTP/1.1\r\n\r\n", b"tunnels only to port 443, not 8443"),
        ("GET http://127.0.0.1:25/ HTTP/1.1\r\n\r\n", b"HTTP only to port 80 or 1024+, not 25"),
    ],
)
def test_tunnels_go_only_to_the_allowed_ports_and_http_never_to_privileged_ones(
    tmp_path: Path, request_head: str, message: bytes
) -> None:
    proxy = EgressProxy(str(tmp_path / "egress.sock"), allow_private=True)  # the default ports: 443
    try:
        answer = ask(proxy, request_head.encode())
    finally:
        proxy.close()
    assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n") and message in answer, answer


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        ("nonsense\r\n\r\n", b"400"),
        ("GET /relative HTTP/1.1\r\n\r\n", b"400"),
        ("GET ftp://example.com/ HTTP/1.1\r\n\r\n", b"400"),
        ("CONNECT example.com:notaport HTTP/1.1\r\n\r\n", b"400"),
        ("CONNECT no-such-host.invalid:443 HTTP/1.1\r\n\r\n", b"403"),
    ],
)
def test_bad_requests_get_a_clear_error(tmp_path: Path, request_head: str, status: bytes) -> None:
    proxy = EgressProxy(str(tmp_path / "egress.sock"))
    try:
        answer = ask(proxy, request_head.encode())
    finally:
        proxy.close()
    assert answer.split(b" ", 2)[1] == status, answer


def test_a_closed_proxy_refuses_connections(tmp_path: Path) -> None:
    proxy = EgressProxy(str(tmp_path / "egress.sock"))
    proxy.close()
    with pytest.raises(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(proxy.socket_path)


def jail_shell(endpoint: SandboxEndpoint, command: str) -> str:
    with ToolApiClient(endpoint.tool_api_url, endpoint.token, uds=endpoint.tool_api_socket) as api:
        result = api.shell_exec(id="net", command=command, wait_seconds=20)
    return str(result["output"])


def test_the_agents_shell_reaches_the_network_only_through_the_proxy(
    local_backend: str, settings: Any, web: int
) -> None:
    backend = get_backend("local")
    # --noproxy '': the jail's 127.0.0.1 is its own; ask the proxy for the host's loopback.
    curl = f"curl -s -m 5 --noproxy '' -w ' [%{{http_code}}]' http://127.0.0.1:{web}/from-jail"
    outputs = {}
    for network, allow_private in (("proxy", False), ("proxy", True), ("none", True)):
        settings.SANDBOX_LOCAL_NETWORK, settings.SANDBOX_EGRESS_ALLOW_PRIVATE = network, allow_private
        sandbox_id = str(uuid.uuid4())
        endpoint = backend.create(sandbox_id)
        try:
            outputs[(network, allow_private)] = jail_shell(endpoint, f"echo proxy=$https_proxy; {curl}")
        finally:
            backend.destroy(sandbox_id)

    refused = outputs[("proxy", False)]
    assert "proxy=http://127.0.0.1:3128" in refused and "[403]" in refused
    assert "refuses 127.0.0.1" in refused
    allowed = outputs[("proxy", True)]
    assert "hello /from-jail via close [200]" in allowed
    nothing = outputs[("none", True)]  # no proxy, no network: curl cannot connect at all
    assert "proxy=\n" in nothing and "[000]" in nothing and "hello" not in nothing


@pytest.mark.django_db(transaction=True)
def test_the_agent_is_told_which_network_its_local_sandbox_has(local_backend: str, settings: Any, alice: Any) -> None:
    from sandboxes.services import sandbox_acquire
    from sessions.models import Session

    seen = {}
    for network in ("proxy", "none"):
        settings.SANDBOX_LOCAL_NETWORK = network
        session = Session.objects.create(owner=alice)
        seen[network] = sandbox_acquire(session_id=session.id).network
    assert seen == {"proxy": "proxy", "none": "none"}
