"""The egress proxy of a local jail (SANDBOX_LOCAL_NETWORK=proxy): served from this process on
a unix socket in the sandbox's run directory, which the tool API inside the jail bridges to
127.0.0.1:3128. It opens before the jail starts and closes when the jail's processes end (the
jail dies with this process anyway)."""

from __future__ import annotations

import threading
from pathlib import Path

from django.conf import settings

from ...egress import EgressProxy
from .desktop import NO_LOOPBACK

EGRESS_SOCKET_NAME = "egress.sock"
JAIL_PROXY_URL = "http://127.0.0.1:3128"

_proxies_lock = threading.Lock()
_proxies: dict[str, EgressProxy] = {}  # egress proxies this process serves, by sandbox


def egress_open(sandbox_id: str, run_dir: Path, env: dict[str, str]) -> None:
    """Serve the jail's egress proxy from this process (the jail dies with it anyway)."""
    ports = settings.SANDBOX_EGRESS_CONNECT_PORTS
    proxy = EgressProxy(
        str(run_dir / EGRESS_SOCKET_NAME),
        allow_private=settings.SANDBOX_EGRESS_ALLOW_PRIVATE,
        connect_ports=None if ports is None else frozenset(ports),
        max_connections=settings.SANDBOX_EGRESS_MAX_CONNECTIONS,
        idle_seconds=settings.SANDBOX_EGRESS_IDLE_SECONDS,
    )
    with _proxies_lock:
        _proxies[sandbox_id] = proxy
    env.update(
        TOOLAPI_EGRESS_SOCKET=f"/run/toolapi/{EGRESS_SOCKET_NAME}",
        TOOLAPI_EGRESS_PORT="3128",
        http_proxy=JAIL_PROXY_URL,
        https_proxy=JAIL_PROXY_URL,
        HTTP_PROXY=JAIL_PROXY_URL,
        HTTPS_PROXY=JAIL_PROXY_URL,
        no_proxy="localhost,127.0.0.1,::1",
        NO_PROXY="localhost,127.0.0.1,::1",
        CHROME_EXTRA_FLAGS=f"--proxy-server={JAIL_PROXY_URL} {NO_LOOPBACK}",
    )


def egress_close(sandbox_id: str) -> None:
    """Stop serving the sandbox's egress proxy, if this process serves one."""
    with _proxies_lock:
        proxy = _proxies.pop(sandbox_id, None)
    if proxy is not None:
        proxy.close()
