"""Reads. Anything reached from a request is scoped to the caller's sessions first."""

from __future__ import annotations

from anker_project.errors import NotFoundError
from anker_project.principal import Principal
from sessions.selectors import session_get

from .models import Sandbox, SandboxStatus
from .tool_api import ToolApiClient

NO_SANDBOX_MESSAGE = "This session has no sandbox yet"


def sandbox_for_session(*, session_id: str) -> Sandbox | None:
    """The sandbox the session holds now (leased and ready), if any."""
    return Sandbox.objects.filter(session_id=session_id, status=SandboxStatus.IN_USE).first()


def sandbox_tool_api_for(*, principal: Principal, session_id: str, timeout: float = 30.0) -> ToolApiClient:
    """A client of the tool API of the caller's session's sandbox; 404 for a foreign session or none."""
    session_get(principal=principal, session_id=session_id)
    sandbox = sandbox_for_session(session_id=session_id)
    if sandbox is None:
        raise NotFoundError(NO_SANDBOX_MESSAGE)
    return sandbox_tool_api(sandbox, timeout=timeout)


def sandbox_tool_api(sandbox: Sandbox, *, timeout: float = 30.0) -> ToolApiClient:
    return ToolApiClient(sandbox.tool_api_url, sandbox.token, uds=sandbox.tool_api_socket or None, timeout=timeout)


def sandbox_pool_counts() -> dict[str, int]:
    """How many pool sandboxes are ready and how many are being provisioned for the pool."""
    unclaimed = Sandbox.objects.filter(session__isnull=True)
    return {
        "ready": unclaimed.filter(status=SandboxStatus.READY).count(),
        "provisioning": unclaimed.filter(status=SandboxStatus.PROVISIONING).count(),
    }
