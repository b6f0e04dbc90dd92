"""Sandbox backends behind one interface: `create`, `destroy`, `status`, `list`; `stop` and
`start` for hibernation (processes stopped, workspace kept); `shape` for what a new sandbox
will look like before it exists (the planner's prompt is written while it starts).

A backend addresses its instances by the sandbox's UUID (the Docker container's name and
labels carry it; a local jail's directory is named after it), so an instance can be found
and destroyed even when the process that created it died before recording anything.
The endpoint it returns is private: it is stored on the Sandbox row and never shown by
any API, log line or admin page.
"""

from __future__ import annotations

import enum
import time
import typing
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings


class InstanceState(enum.StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"  # exists but its process/container is not running
    MISSING = "missing"


@dataclass(frozen=True)
class SandboxEndpoint:
    """How to reach one sandbox. Private: holds the bearer token."""

    tool_api_url: str  # "http://127.0.0.1:<port>", or "http://sandbox" with a socket
    tool_api_socket: str | None
    token: str
    cdp_url: str | None
    vnc_ws_url: str | None
    home: str  # the agent's working directory inside the sandbox
    services: tuple[str, ...]  # what runs besides the tool API: x, cdp, vnc; and its way out: net | egress


@dataclass(frozen=True)
class SandboxShape:
    """What the agent is told about a sandbox: its home, whether it has a browser, its network."""

    home: str
    has_browser: bool
    network: str  # open | proxy (HTTP/HTTPS to public addresses) | none


def shape_of(*, home: str, cdp_url: str | None, services: tuple[str, ...] | list[str]) -> SandboxShape:
    network = "open" if "net" in services else "proxy" if "egress" in services else "none"
    return SandboxShape(home=home, has_browser=bool(cdp_url), network=network)


class SandboxStartError(Exception):
    """The backend could not bring a sandbox up (what was created has been removed)."""


class SandboxBackend(Protocol):
    name: str

    def isolation(self) -> str:
        """One line saying what isolates this backend's sandboxes from the host."""
        ...

    def create(self, sandbox_id: str) -> SandboxEndpoint:
        """Start a sandbox and return once its tool API is ready (raises SandboxStartError)."""
        ...

    def destroy(self, sandbox_id: str) -> None:
        """Kill and remove it and everything it owns; a missing sandbox is not an error."""
        ...

    def stop(self, sandbox_id: str) -> None:
        """Stop its processes and keep its workspace (hibernate); a missing sandbox is not an error."""
        ...

    def start(self, sandbox_id: str) -> SandboxEndpoint:
        """Start a stopped sandbox again over its kept workspace; its new endpoint (raises SandboxStartError)."""
        ...

    def shape(self) -> SandboxShape | None:
        """What `create` would give now, without creating it; None when that cannot be known."""
        ...

    def status(self, sandbox_id: str) -> InstanceState: ...

    def list(self) -> list[str]:
        """UUIDs of every instance of ours (this prefix / directory) that exists, running or not."""
        ...


def get_backend(name: str | None = None) -> SandboxBackend:
    name = name or settings.SANDBOX_BACKEND
    if name == "docker":
        from .docker import DockerBackend

        return DockerBackend()
    if name == "local":
        from .local import LocalBackend

        return LocalBackend()
    if name == "attached":  # tests and benchmarks: a tool API someone else started
        from .attached import AttachedBackend

        return AttachedBackend()
    raise ValueError(f"SANDBOX_BACKEND must be docker or local, not {name!r}")


# A refused connection is answered at once: poll often, a wake waits for nothing else.
READY_POLL_SECONDS = 0.05


def wait_until_ready(
    endpoint: SandboxEndpoint, *, timeout: float, alive: typing.Callable[[], bool]
) -> dict[str, object]:
    """Poll the tool API's /health until it says `ready`; returns the last health.

    Raises SandboxStartError past the deadline or as soon as `alive()` says the instance died.
    """
    from sandboxes.tool_api import ToolApiClient, ToolApiError

    deadline = time.monotonic() + timeout
    last = "no answer"
    with ToolApiClient(endpoint.tool_api_url, endpoint.token, uds=endpoint.tool_api_socket, timeout=2.0) as client:
        while time.monotonic() < deadline:
            try:
                health = client.health()
                if health.get("ready") is True:
                    return health
                last = f"not ready: {health}"
            except ToolApiError as exc:
                last = exc.message
            if not alive():
                raise SandboxStartError(f"the sandbox exited while starting ({last})")
            time.sleep(READY_POLL_SECONDS)
    raise SandboxStartError(f"the sandbox was not ready within {timeout:g} s ({last})")
