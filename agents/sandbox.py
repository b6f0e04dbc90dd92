"""How the agent reaches its session's sandbox.

`AGENT_SANDBOX_PROVIDER` names a callable `(*, session_id) -> handle` — by default
`sandboxes.services.sandbox_acquire`; tests point it at a tool API they start. The handle is
anything with the `SandboxHandle` shape below.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from sandboxes.tool_api import ToolApiClient

logger = logging.getLogger(__name__)


class SandboxLike(Protocol):
    @property
    def sandbox_id(self) -> str: ...
    @property
    def tool_api(self) -> ToolApiClient: ...
    @property
    def cdp_url(self) -> str | None: ...
    @property
    def home(self) -> str: ...


def agent_sandbox_acquire(*, session_id: str) -> SandboxLike:
    provider: Callable[..., SandboxLike] = import_string(settings.AGENT_SANDBOX_PROVIDER)
    return provider(session_id=session_id)


def agent_sandbox_touch(*, session_id: str) -> None:
    """Renew the sandbox lease (between steps); a provider without leases has nothing to renew."""
    module = settings.AGENT_SANDBOX_PROVIDER.rsplit(".", 1)[0]
    try:
        touch: Callable[..., None] = import_string(f"{module}.sandbox_touch")
    except ImportError:
        return
    try:
        touch(session_id=session_id)
    except Exception:  # a missed renewal is retried at the next step; the turn goes on
        logger.warning("could not renew the sandbox lease of session %s", session_id, exc_info=True)
