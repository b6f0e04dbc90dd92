"""A sandbox provider for tests (`AGENT_SANDBOX_PROVIDER`): the real tool API and, when asked,
a real Chromium, started by the fixtures in conftest.py and described by environment
variables so a worker subprocess reaches the same sandbox."""

from __future__ import annotations

import os

from sandboxes.services import SandboxHandle
from sandboxes.tool_api import ToolApiClient


def acquire(*, session_id: str) -> SandboxHandle:
    return SandboxHandle(
        sandbox_id=f"test-{session_id}",
        tool_api=ToolApiClient(os.environ["ANKER_TEST_TOOLAPI_URL"], os.environ["ANKER_TEST_TOOLAPI_TOKEN"]),
        cdp_url=os.environ.get("ANKER_TEST_CDP_URL") or None,
        home=os.environ["ANKER_TEST_HOME"],
        network=os.environ.get("ANKER_TEST_NETWORK", "open"),
    )
