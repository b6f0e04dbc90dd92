"""The desktop on demand: Xvfb, Chromium and x11vnc start on the first `/cdp` or `/vnc`.

A sandbox whose supervisord.conf marks the desktop's programs `autostart=false` sets
TOOLAPI_DESKTOP_SUPERVISOR (supervisord's unix socket) for the tool API: a shell-only task then
never pays for a browser. The first relay request asks supervisord (XML-RPC over its socket) to
start the programs and waits until X, CDP and VNC answer; later requests find them running
(supervisord restarts any that dies).
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import xmlrpc.client

from . import health, models
from .config import Settings

PROGRAMS = ("xvfb", "chromium", "x11vnc")
START_TIMEOUT_SECONDS = 60.0

_lock = threading.Lock()
_started = False


class DesktopStartError(Exception):
    """The desktop did not come up."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=START_TIMEOUT_SECONDS)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path

    def make_connection(self, host: object) -> http.client.HTTPConnection:
        return _UnixConnection(self._path)


def on_demand(settings: Settings) -> bool:
    return settings.desktop_supervisor is not None


def started(settings: Settings) -> bool:
    """Has the desktop been started (always true when it starts with the sandbox)?"""
    return not on_demand(settings) or _started


def ensure(settings: Settings) -> None:
    """Start the desktop if it is on demand and not yet started; wait until it answers."""
    global _started
    if settings.desktop_supervisor is None or _started:
        return
    with _lock:
        if _started:
            return
        proxy = xmlrpc.client.ServerProxy("http://localhost", transport=_UnixTransport(settings.desktop_supervisor))
        try:
            for name in PROGRAMS:
                state = proxy.supervisor.getProcessInfo(name)["statename"]
                if state not in ("RUNNING", "STARTING"):
                    proxy.supervisor.startProcess(name, False)
        except (OSError, xmlrpc.client.Error) as exc:
            raise DesktopStartError(f"supervisord did not start the desktop: {exc}") from exc
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            result = health.probe(settings)
            if result.x == "ok" and result.cdp == "ok" and result.vnc == "ok":
                _started = True
                return
            time.sleep(0.1)
        raise DesktopStartError(f"the desktop did not answer within {START_TIMEOUT_SECONDS:g} s")


def health_report(settings: Settings) -> models.HealthResult:
    """Health as /health reports it: an on-demand desktop not yet started is `idle` (and ready)."""
    if not started(settings):
        idle = {name: ("idle" if name in settings.expected_services else "absent") for name in ("x", "cdp", "vnc")}
        return models.HealthResult(x=idle["x"], cdp=idle["cdp"], vnc=idle["vnc"], ready=True)
    return health.probe(settings)
