"""Tools are called directly here: a `ToolEnv` on the real tool API (and Chromium) of
tests/agents/conftest.py, for a real session of alice's so tools that publish or store files can."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agents.runtime import TurnContext
from agents.tools import ToolEnv
from sandboxes.services import sandbox_acquire
from sessions.models import Session
from tests.agents.conftest import ToolApiServer
from tests.agents.helpers import new_agent_session


def tool_env(session: Session, *, call_id: str = "call_1") -> ToolEnv:
    ctx = TurnContext(
        turn_id="turn-tools", session_id=session.id, mode="agent", message="", message_seq=0, needs_title=False
    )
    env = ToolEnv(ctx=ctx, sandbox=sandbox_acquire(session_id=session.id), owner_id=session.owner_id)
    env.call_id = call_id
    return env


@pytest.fixture
def agent_session(alice: Any) -> Session:
    return new_agent_session(alice)


@pytest.fixture
def env(agent_session: Session, sandbox: ToolApiServer) -> Iterator[ToolEnv]:
    """A sandbox without a browser."""
    yield tool_env(agent_session)


@pytest.fixture
def browser_env(agent_session: Session, browser_sandbox: ToolApiServer) -> Iterator[ToolEnv]:
    env = tool_env(agent_session)
    try:
        yield env
    finally:
        if env.browser is not None:
            env.browser.close()
