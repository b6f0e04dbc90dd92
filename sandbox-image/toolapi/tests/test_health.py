"""GET /health: the tool API and the desktop services next to it."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest

from .conftest import Api, Target, start_server, stop_server

SERVICES = ("x", "cdp", "vnc")


def test_health_reports_the_expected_services_ok_and_the_rest_absent(api: Api, target: Target) -> None:
    if target.expected_services is None:
        pytest.skip("set TOOLAPI_TEST_SERVICES to say which services this sandbox runs")
    expected = {name: ("ok" if name in target.expected_services else "absent") for name in SERVICES}
    wanted = {"toolapi": "ok", **expected, "ready": True}
    # An on-demand desktop not started yet (no /cdp or /vnc so far) is idle, and ready.
    idle = {"toolapi": "ok", **{n: ("idle" if s == "ok" else s) for n, s in expected.items()}, "ready": True}

    deadline = time.monotonic() + 30  # a fresh sandbox may still be starting Chromium
    while True:
        response = api.client.get("/health")
        assert response.status_code == 200
        if response.json()["data"] in (wanted, idle) or time.monotonic() > deadline:
            break
        time.sleep(0.2)

    assert response.json() in ({"ok": True, "data": wanted}, {"ok": True, "data": idle})


# --- local only: a second server with fake services -------------------------


class _CdpHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"Browser": "Chrome/1.0", "Protocol-Version": "1.3"}).encode()
        self.send_response(200 if self.path == "/json/version" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_services(target: Target, tmp_path: Path) -> Iterator[dict[str, object]]:
    if not target.local:
        pytest.skip("starts its own server; only for the local target")
    cdp = HTTPServer(("127.0.0.1", 0), _CdpHandler)
    threading.Thread(target=cdp.serve_forever, daemon=True).start()
    vnc = socket.socket(socket.AF_UNIX)
    vnc.bind(str(tmp_path / "vnc.sock"))
    vnc.listen()
    # An X display number nobody uses, with its socket made by us.
    x_dir = Path("/tmp/.X11-unix")
    x_dir.mkdir(exist_ok=True)
    display = next(n for n in range(700, 800) if not (x_dir / f"X{n}").exists())
    x = socket.socket(socket.AF_UNIX)
    x.bind(str(x_dir / f"X{display}"))
    x.listen()
    root = tmp_path / "root"
    root.mkdir()
    proc, url, token = start_server(
        root,
        tmp_path / "server.log",
        {
            "TOOLAPI_SERVICES": "x,cdp,vnc",
            "DISPLAY": f":{display}",
            "CDP_PORT": str(cdp.server_address[1]),
            "VNC_SOCKET": str(tmp_path / "vnc.sock"),
        },
    )
    services = {"url": url, "token": token, "cdp": cdp, "vnc": vnc, "x": x, "x_path": x_dir / f"X{display}"}
    try:
        yield services
    finally:
        stop_server(proc)
        cdp.shutdown()
        cdp.server_close()
        vnc.close()
        x.close()
        (x_dir / f"X{display}").unlink(missing_ok=True)


def test_health_says_ok_for_live_services_and_down_for_dead_ones(fake_services: dict[str, object]) -> None:
    url, token = fake_services["url"], fake_services["token"]
    headers = {"Authorization": f"Bearer {token}"}

    up = httpx.get(f"{url}/health", headers=headers)
    assert up.json() == {
        "ok": True,
        "data": {"toolapi": "ok", "x": "ok", "cdp": "ok", "vnc": "ok", "ready": True},
    }

    fake_services["cdp"].shutdown()  # type: ignore[attr-defined]
    fake_services["cdp"].server_close()  # type: ignore[attr-defined]
    fake_services["vnc"].close()  # type: ignore[attr-defined]
    fake_services["x"].close()  # type: ignore[attr-defined]
    fake_services["x_path"].unlink()  # type: ignore[attr-defined]

    down = httpx.get(f"{url}/health", headers=headers)
    assert down.json() == {
        "ok": True,
        "data": {"toolapi": "ok", "x": "down", "cdp": "down", "vnc": "down", "ready": False},
    }
