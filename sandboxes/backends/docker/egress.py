"""Where a Docker sandbox's traffic leaves: the egress proxy's address on the sandbox network
(SANDBOX_EGRESS_PROXY, or one this process serves on the network's gateway) and the proxy
environment a container is created with."""

from __future__ import annotations

import logging
import socket
import threading
from urllib.parse import urlsplit

from django.conf import settings

from ...egress import SHARED_MAX_CONNECTIONS, EgressProxy
from .. import SandboxStartError
from .client import Network

logger = logging.getLogger(__name__)

_egress_lock = threading.Lock()
_egress: EgressProxy | None = None  # this process's egress proxy, when SANDBOX_EGRESS_PROXY is empty


def _gateway(network: Network) -> str:
    try:
        return str(network.attrs["IPAM"]["Config"][0]["Gateway"])
    except (KeyError, IndexError, TypeError) as exc:
        raise SandboxStartError(f"network {network.name} has no IPv4 gateway") from exc


def egress_address(network: Network) -> tuple[str, int] | None:
    """Where this host's sandboxes reach the egress proxy (an IPv4 address and port), or None
    when they get no network (SANDBOX_EGRESS_PROXY=none)."""
    global _egress
    configured = settings.SANDBOX_EGRESS_PROXY
    if configured == "none":
        return None
    if configured:
        host, _, port = configured.rpartition(":")
        try:
            infos = socket.getaddrinfo(host, int(port), socket.AF_INET, socket.SOCK_STREAM)
        except (OSError, ValueError) as exc:
            raise SandboxStartError(f"SANDBOX_EGRESS_PROXY {configured!r} does not resolve: {exc}") from exc
        return str(infos[0][4][0]), int(port)
    # Served by this process on the network's gateway: the Docker host's side of the bridge.
    with _egress_lock:
        if _egress is None:
            ports = settings.SANDBOX_EGRESS_CONNECT_PORTS
            try:
                _egress = EgressProxy(
                    tcp_address=(_gateway(network), 0),
                    allow_private=settings.SANDBOX_EGRESS_ALLOW_PRIVATE,
                    connect_ports=None if ports is None else frozenset(ports),
                    max_connections=SHARED_MAX_CONNECTIONS,
                )
            except OSError as exc:
                raise SandboxStartError(
                    f"cannot serve the sandboxes' egress proxy on {_gateway(network)} ({exc}); this worker does "
                    "not run on the Docker host: set SANDBOX_EGRESS_PROXY to the egress-proxy service (host:port)"
                ) from exc
            logger.info("egress proxy for Docker sandboxes on %s:%d", *_egress.address)
        return _egress.address


def proxy_env(proxy: tuple[str, int] | None) -> dict[str, str]:
    if proxy is None:
        return {}
    url = f"http://{proxy[0]}:{proxy[1]}"
    return {
        "http_proxy": url,
        "https_proxy": url,
        "HTTP_PROXY": url,
        "HTTPS_PROXY": url,
        "no_proxy": "localhost,127.0.0.1,::1",
        "NO_PROXY": "localhost,127.0.0.1,::1",
        # <-loopback>: pages' requests to 127.0.0.1 go to the proxy too, which refuses them.
        "CHROME_EXTRA_FLAGS": f"--proxy-server={url} --proxy-bypass-list=<-loopback>",
    }


def created_proxy(env: dict[str, str]) -> tuple[str, int] | None:
    """The egress proxy a container was created with (its environment is fixed at create time)."""
    if not env.get("http_proxy"):
        return None
    url = urlsplit(env["http_proxy"])
    return str(url.hostname), int(url.port or 80)
