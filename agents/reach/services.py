"""What an app above (jobs) gives a session: its MCP servers, tool rules and secrets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .mcp_servers import McpServerInvalidError, mcp_server_spec_check
from .models import SessionReach
from .rules import tool_rules_check
from .vault import secret_names_check

MAX_JOB_SERVERS = 8


@dataclass(frozen=True)
class ReachRequest:
    """Checked and ready to store; `reach_check` makes one from a job's body."""

    mcp_servers: list[dict[str, Any]] = field(default_factory=list)
    job_rules: dict[str, str] = field(default_factory=dict)
    api_key_rules: dict[str, str] = field(default_factory=dict)
    secret_names: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.mcp_servers or self.job_rules or self.api_key_rules or self.secret_names)


def reach_check(
    *,
    owner_id: int,
    mcp_servers: Sequence[Mapping[str, Any]] = (),
    tool_rules: Mapping[str, str] | None = None,
    api_key_rules: Mapping[str, str] | None = None,
    secrets: Sequence[str] = (),
) -> ReachRequest:
    """Check a job's reach before anything is created; 422 (ApplicationError subclasses) says what to fix."""
    if len(mcp_servers) > MAX_JOB_SERVERS:
        raise McpServerInvalidError(f"at most {MAX_JOB_SERVERS} mcp_servers")
    specs = []
    for index, server in enumerate(mcp_servers):
        try:
            specs.append(mcp_server_spec_check(server))
        except McpServerInvalidError as exc:
            raise McpServerInvalidError(f"mcp_servers[{index}]: {exc.message}") from exc
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise McpServerInvalidError("mcp_servers: every server needs its own name")
    return ReachRequest(
        mcp_servers=[s.model_dump() for s in specs],
        job_rules=tool_rules_check(tool_rules or {}),
        api_key_rules=tool_rules_check(api_key_rules or {}),
        secret_names=secret_names_check(owner_id=owner_id, names=secrets),
    )


def session_reach_set(*, session_id: str, reach: ReachRequest) -> None:
    SessionReach.objects.update_or_create(
        session_id=session_id,
        defaults={
            "mcp_servers": reach.mcp_servers,
            "job_rules": reach.job_rules,
            "api_key_rules": reach.api_key_rules,
            "secret_names": reach.secret_names,
        },
    )
