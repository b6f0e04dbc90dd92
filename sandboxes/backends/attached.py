"""The attached backend: every sandbox is one tool API that is already running, started by
someone else (the test fixtures, the benchmarks). For tests and benches only: it isolates
nothing, every session shares the same process and files.

It exists so that code which needs a fast sandbox still goes through the real sandbox
seam: `sandboxes.services.sandbox_acquire` makes and leases a `Sandbox` row for it, the turn's
heartbeat renews that lease with `sandbox_touch`, the reaper and the session's delete stop
it. Only the instance is borrowed: `create` checks the tool API is up and hands out its
endpoint, `destroy` lets go of it (the process is its starter's to stop), `list` claims no
instance (the reaper never removes what it did not start).

Configured by the environment at each call, so a worker subprocess started with the same
environment reaches the same tool API:

- `SANDBOX_ATTACHED_TOOLAPI_URL`, `SANDBOX_ATTACHED_TOKEN`: the tool API and its bearer token
- `SANDBOX_ATTACHED_HOME`: the agent's working directory in it
- `SANDBOX_ATTACHED_CDP_URL`: a Chromium's CDP URL, or empty for no browser
- `SANDBOX_ATTACHED_NETWORK`: what the sandbox's network is said to be: open | proxy | none
"""

from __future__ import annotations

import os

from sandboxes.tool_api import ToolApiClient, ToolApiError

from . import InstanceState, SandboxEndpoint, SandboxShape, SandboxStartError, shape_of, wait_until_ready

READY_TIMEOUT_SECONDS = 10.0
NETWORK_SERVICES = {"open": ("net",), "proxy": ("egress",), "none": ()}


def _env(name: str) -> str:
    value = os.environ.get(f"SANDBOX_ATTACHED_{name}", "")
    if not value and name in ("TOOLAPI_URL", "TOKEN", "HOME"):
        raise SandboxStartError(f"SANDBOX_BACKEND is attached but SANDBOX_ATTACHED_{name} is not set")
    return value


def _endpoint() -> SandboxEndpoint:
    cdp_url = _env("CDP_URL") or None
    network = _env("NETWORK") or "open"
    if network not in NETWORK_SERVICES:
        raise SandboxStartError(f"SANDBOX_ATTACHED_NETWORK must be open, proxy or none, not {network!r}")
    return SandboxEndpoint(
        tool_api_url=_env("TOOLAPI_URL"),
        tool_api_socket=None,
        token=_env("TOKEN"),
        cdp_url=cdp_url,
        vnc_ws_url=None,
        home=_env("HOME"),
        services=(*(("cdp",) if cdp_url else ()), *NETWORK_SERVICES[network]),
    )


class AttachedBackend:
    name = "attached"

    def isolation(self) -> str:
        return "none: an already running tool API shared by every session (tests and benchmarks only)"

    def create(self, sandbox_id: str) -> SandboxEndpoint:
        endpoint = _endpoint()
        wait_until_ready(endpoint, timeout=READY_TIMEOUT_SECONDS, alive=lambda: True)
        return endpoint

    def destroy(self, sandbox_id: str) -> None:
        """Nothing to remove: the tool API belongs to whoever started it."""

    def stop(self, sandbox_id: str) -> None:
        """Nothing to stop: the tool API belongs to whoever started it."""

    def start(self, sandbox_id: str) -> SandboxEndpoint:
        return self.create(sandbox_id)

    def shape(self) -> SandboxShape | None:
        try:
            endpoint = _endpoint()
        except SandboxStartError:
            return None
        return shape_of(home=endpoint.home, cdp_url=endpoint.cdp_url, services=endpoint.services)

    def status(self, sandbox_id: str) -> InstanceState:
        try:
            endpoint = _endpoint()
            with ToolApiClient(endpoint.tool_api_url, endpoint.token, timeout=2.0) as client:
                client.health()
        except (SandboxStartError, ToolApiError):
            return InstanceState.MISSING
        return InstanceState.RUNNING

    def list(self) -> list[str]:
        return []
