"""The local backend's desktop: Xvfb, Chromium and VNC in a bubblewrap jail with no network,
reached only through the tool API's authenticated relays on its unix socket; the browser tool
drives it through the same Playwright path as a Docker sandbox's. Real jails, real Chromium."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from agents.tools.browser import BrowserSession
from sandboxes.backends import SandboxEndpoint, SandboxStartError, get_backend
from sandboxes.backends.local import DESKTOP_PROGRAMS
from sandboxes.bridge import UnixSocketBridge
from sandboxes.tool_api import ToolApiClient


@pytest.fixture
def desktop(local_desktop_backend: str) -> Iterator[tuple[str, SandboxEndpoint]]:
    backend = get_backend("local")
    sandbox_id = str(uuid.uuid4())
    endpoint = backend.create(sandbox_id)
    try:
        yield sandbox_id, endpoint
    finally:
        backend.destroy(sandbox_id)


def client(endpoint: SandboxEndpoint) -> ToolApiClient:
    return ToolApiClient(endpoint.tool_api_url, endpoint.token, uds=endpoint.tool_api_socket)


def browser(endpoint: SandboxEndpoint) -> BrowserSession:
    return BrowserSession(str(endpoint.cdp_url), headers={"Authorization": f"Bearer {endpoint.token}"})


def workspace(sandbox_id: str) -> Path:
    return Path(settings.SANDBOX_LOCAL_DIR) / sandbox_id / "workspace"


def jail_processes(sandbox_id: str) -> set[int]:
    """The bubblewrap process of the sandbox and all its descendants (host PIDs)."""
    root = int(json.loads((Path(settings.SANDBOX_LOCAL_DIR) / sandbox_id / "meta.json").read_text())["pid"])
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, grew = {root}, True
    while grew:
        children = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= children
        grew = bool(children)
    return tree


def desktop_commands(sandbox_id: str) -> list[str]:
    """The command lines of the jail's Xvfb, Chromium and x11vnc processes."""
    found = []
    for pid in jail_processes(sandbox_id):
        with contextlib.suppress(OSError):
            argv0 = (Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") or [b""])[0].decode()
            if any(name in argv0 for name in ("Xvfb", "chromium", "x11vnc")):
                found.append(argv0)
    return found


def open_live_view(endpoint: SandboxEndpoint) -> bytes:
    """What the live view does: a WebSocket upgrade on the tool API's /vnc; the reply's status line."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(90)
        sock.connect(str(endpoint.tool_api_socket))
        sock.sendall(
            b"GET /vnc HTTP/1.1\r\nHost: sandbox\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Protocol: binary\r\nAuthorization: Bearer " + endpoint.token.encode() + b"\r\n\r\n"
        )
        return sock.recv(4096).split(b"\r\n", 1)[0]


def start_desktop(endpoint: SandboxEndpoint) -> None:
    assert open_live_view(endpoint) == b"HTTP/1.1 101 Switching Protocols"


def test_a_fresh_desktop_jail_runs_no_xvfb_chromium_or_vnc_until_the_first_browser_call(
    desktop: tuple[str, SandboxEndpoint],
) -> None:
    sandbox_id, endpoint = desktop
    with client(endpoint) as api:
        out = api.shell_exec(id="s", command="echo shell-only", wait_seconds=5)
    assert "shell-only" in str(out)
    assert desktop_commands(sandbox_id) == []
    session = browser(endpoint)
    try:
        assert session.run(lambda page: page.evaluate("6 * 7")) == 42
    finally:
        session.close()
    started = desktop_commands(sandbox_id)
    assert any("Xvfb" in c for c in started) and any("chromium" in c for c in started), started
    with client(endpoint) as api:
        assert api.health() == {"toolapi": "ok", "x": "ok", "cdp": "ok", "vnc": "ok", "ready": True}


def test_opening_the_live_view_starts_the_desktop(desktop: tuple[str, SandboxEndpoint]) -> None:
    sandbox_id, endpoint = desktop
    assert desktop_commands(sandbox_id) == []
    assert open_live_view(endpoint) == b"HTTP/1.1 101 Switching Protocols"
    started = desktop_commands(sandbox_id)
    assert sorted({n for n in ("Xvfb", "chromium", "x11vnc") for c in started if n in c}) == [
        "Xvfb", "chromium", "x11vnc"
    ]  # fmt: skip
    with client(endpoint) as api:
        assert api.health() == {"toolapi": "ok", "x": "ok", "cdp": "ok", "vnc": "ok", "ready": True}


def test_a_desktop_jail_runs_chromium_and_vnc_behind_its_tool_apis_private_socket(
    desktop: tuple[str, SandboxEndpoint],
) -> None:
    sandbox_id, endpoint = desktop
    assert endpoint.services == ("x", "cdp", "vnc", "egress")
    run_dir = Path(settings.SANDBOX_LOCAL_DIR) / sandbox_id / "run"
    # CDP and VNC are the /cdp and /vnc relays of the tool API's socket: no socket of their own.
    assert endpoint.cdp_url == endpoint.vnc_ws_url == f"ws+unix:{run_dir}/api.sock"
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700  # only Anker's user reaches the sockets
    assert sorted(p.name for p in run_dir.iterdir() if p.is_socket()) == ["api.sock", "egress.sock"]
    for name in ("api.sock", "egress.sock"):
        assert stat.S_IMODE((run_dir / name).stat().st_mode) == 0o600, name
    with client(endpoint) as api:
        assert api.health() == {
            "toolapi": "ok", "x": "idle", "cdp": "idle", "vnc": "idle", "ready": True
        }  # fmt: skip
    start_desktop(endpoint)
    with client(endpoint) as api:
        assert api.health() == {
            "toolapi": "ok", "x": "ok", "cdp": "ok", "vnc": "ok", "ready": True
        }  # fmt: skip
    assert "desktop: Xvfb, Chromium (CDP) and VNC" in get_backend("local").isolation()


def test_the_browser_tool_drives_the_jails_chromium_and_its_tab_outlives_the_turn(
    desktop: tuple[str, SandboxEndpoint],
) -> None:
    sandbox_id, endpoint = desktop
    (workspace(sandbox_id) / "page.html").write_text("<title>Inside the jail</title><h1>Anker</h1>")

    first = browser(endpoint)
    try:
        title = first.run(lambda page: (page.goto("file:///workspace/page.html"), page.title())[1])
        heading = first.run(lambda page: page.inner_text("h1"))
        bridge_url = first._cdp_endpoint()
    finally:
        first.close()
    assert (title, heading) == ("Inside the jail", "Anker")
    assert bridge_url.startswith("ws://127.0.0.1:") and bridge_url.endswith("/cdp")
    port = int(bridge_url.removesuffix("/cdp").rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError):  # the turn's bridge is gone with the turn
        socket.create_connection(("127.0.0.1", port), timeout=2).close()

    # The next turn (or the user taking over) finds the same tab where the agent left it.
    second = browser(endpoint)
    try:
        assert second.run(lambda page: page.url) == "file:///workspace/page.html"
    finally:
        second.close()


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"<title>host loopback</title>")  # the host, not the jail

    def log_message(self, *args: Any) -> None:
        pass


def host_lan_address() -> str:
    """A non-loopback address of this host (Chromium sends loopback URLs past any proxy)."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.123", 9))  # picks the outgoing interface; sends nothing
        return str(probe.getsockname()[0])
    for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
        if not str(info[4][0]).startswith("127."):
            return str(info[4][0])
    pytest.fail("this host has no non-loopback IPv4 address to test the egress proxy with")


def test_the_jails_chromium_browses_through_the_egress_proxy_which_refuses_private_addresses(
    local_desktop_backend: str, settings: Any
) -> None:
    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://{host_lan_address()}:{server.server_address[1]}/"
    backend = get_backend("local")
    try:
        for allow_private in (False, True):
            settings.SANDBOX_EGRESS_ALLOW_PRIVATE = allow_private
            sandbox_id = str(uuid.uuid4())
            endpoint = backend.create(sandbox_id)
            session = browser(endpoint)
            try:
                response = session.run(lambda page: page.goto(url))
                assert response is not None
                status = response.status
                title, text = session.run(lambda page: (page.title(), page.inner_text("body")))
            finally:
                session.close()
                backend.destroy(sandbox_id)
            if allow_private:
                assert (status, title) == (200, "host loopback")
            else:  # a private address: the proxy answers for it
                assert status == 403 and "Anker's sandbox network refuses" in text, text
    finally:
        server.shutdown()
        server.server_close()


def test_the_supervisor_restarts_a_chromium_that_dies(desktop: tuple[str, SandboxEndpoint]) -> None:
    _, endpoint = desktop
    start_desktop(endpoint)
    with client(endpoint) as api:
        out = api.shell_exec(id="kill", command="pkill -KILL -f /chromium/chromium; echo killed", wait_seconds=5)
        assert "killed" in str(out)
        deadline = time.monotonic() + 30
        went_down = False
        while time.monotonic() < deadline:
            state = api.health()["cdp"]
            went_down = went_down or state == "down"
            if went_down and state == "ok":
                break
            time.sleep(0.1)
        assert went_down, "chromium never went down"
        assert api.health()["cdp"] == "ok", "chromium was not restarted"
    session = browser(endpoint)
    try:
        assert session.run(lambda page: page.evaluate("1 + 1")) == 2
    finally:
        session.close()


def test_destroying_a_desktop_jail_ends_every_process_in_it(local_desktop_backend: str) -> None:
    backend = get_backend("local")
    sandbox_id = str(uuid.uuid4())
    start_desktop(backend.create(sandbox_id))
    try:
        inside = jail_processes(sandbox_id)
        assert len(inside) >= 8  # supervisord, the tool API, Xvfb, Chromium (several), x11vnc, ...
    finally:
        backend.destroy(sandbox_id)
    deadline = time.monotonic() + 10
    while [pid for pid in inside if Path(f"/proc/{pid}").exists()] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in inside if Path(f"/proc/{pid}").exists()] == []
    assert backend.list() == []


def test_desktop_on_refuses_to_start_without_its_programs_and_auto_starts_without_it(
    jail: None, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(DESKTOP_PROGRAMS, "XVFB_BIN", ("Xvfb-not-installed-here",))
    backend = get_backend("local")
    settings.SANDBOX_BACKEND, settings.SANDBOX_LOCAL_DESKTOP = "local", "on"
    with pytest.raises(SandboxStartError, match="missing: Xvfb-not-installed-here"):
        backend.create(str(uuid.uuid4()))
    assert backend.list() == []
    assert "no desktop, missing: Xvfb-not-installed-here" in backend.isolation()

    settings.SANDBOX_LOCAL_DESKTOP = "auto"
    sandbox_id = str(uuid.uuid4())
    endpoint = backend.create(sandbox_id)
    try:
        assert (endpoint.cdp_url, endpoint.vnc_ws_url, endpoint.services) == (None, None, ("egress",))
        with client(endpoint) as api:
            assert api.health() == {
                "toolapi": "ok", "x": "absent", "cdp": "absent", "vnc": "absent", "ready": True
            }  # fmt: skip
    finally:
        backend.destroy(sandbox_id)


def test_the_bridge_relays_both_ways_and_closes_its_connections(tmp_path: Path) -> None:
    path = str(tmp_path / "echo.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()

    def echo() -> None:
        conn, _ = listener.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data.upper())

    threading.Thread(target=echo, daemon=True).start()
    bridge = UnixSocketBridge(path)
    port = int(bridge.url.rsplit(":", 1)[1])
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    payload = b"anker " * 50_000  # larger than one chunk
    threading.Thread(target=conn.sendall, args=(payload,), daemon=True).start()
    received = b""
    while len(received) < len(payload):
        chunk = conn.recv(65536)
        assert chunk, "the bridge closed early"
        received += chunk
    assert received == payload.upper()

    bridge.close()
    assert conn.recv(10) == b""  # closing the bridge ends its open connections
    conn.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    listener.close()
