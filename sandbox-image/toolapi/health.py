"""Probes of the desktop services next to the tool API (X, CDP, VNC). What /health reports
for a desktop not yet started is `desktop.health_report`."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Callable

from . import models
from .config import Settings

PROBE_TIMEOUT_SECONDS = 1.0


def probe(settings: Settings) -> models.HealthResult:
    """Probe every expected service."""
    expected = settings.expected_services
    x = _state("x" in expected, lambda: _x_ok(settings.display))
    cdp = _state("cdp" in expected, lambda: _cdp_ok(settings.cdp_port))
    vnc = _state("vnc" in expected, lambda: _unix_ok(settings.vnc_socket))
    states = {"x": x, "cdp": cdp, "vnc": vnc}
    ready = all(states[name] == "ok" for name in expected)
    return models.HealthResult(x=x, cdp=cdp, vnc=vnc, ready=ready)


def _state(expected: bool, probe: Callable[[], bool]) -> models.ServiceState:
    if not expected:
        return "absent"
    try:
        return "ok" if probe() else "down"
    except Exception:
        return "down"


def _x_ok(display: str | None) -> bool:
    if not display or not display.startswith(":"):
        return False
    number = display[1:].split(".", 1)[0]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(PROBE_TIMEOUT_SECONDS)
        sock.connect(f"/tmp/.X11-unix/X{number}")
    return True


def _cdp_ok(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PROBE_TIMEOUT_SECONDS)
    try:
        conn.request("GET", "/json/version")
        response = conn.getresponse()
        body = response.read(65536)
    finally:
        conn.close()
    return response.status == 200 and "Browser" in json.loads(body)


def _unix_ok(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(PROBE_TIMEOUT_SECONDS)
        sock.connect(path)
    return True
