"""What one agent turn may reach, gathered once when it starts: the tool policy, the MCP
servers' tools, the secrets its sandbox gets, and the redactor that keeps their values out of
everything the turn stores or sends. `Agent` calls into this at a few points only."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

from django.conf import settings
from django.db.models import Q

from agents.runtime import TurnContext
from agents.tools import Tool
from anker_project.redact import Redactor
from sandboxes.services import SandboxHandle
from sandboxes.tool_api import ToolApiError
from sessions.events import ApprovalRequest, MessageEvent, ToolEvent

from .approvals import approval_decision, approval_note, approval_request, approvals_expire
from .mcp_client import McpError, McpHub
from .mcp_servers import mcp_specs_for_turn
from .mcp_tools import mcp_tools_of
from .models import SessionReach, ToolRule
from .policy import ASK, BLOCK, ToolPolicy
from .vault import secret_values

logger = logging.getLogger(__name__)

# Never asked about: the agent's own bookkeeping and talking to the user.
NEVER_GATED = frozenset({"complete_step", "message_notify_user", "message_ask_user"})
DENIED_RESULT = "[not run: the user denied this call{note}. Do not retry it; find another way or ask the user.]"


class TurnReach:
    def __init__(self, *, ctx: TurnContext, sandbox: SandboxHandle, owner_id: int) -> None:
        self.ctx, self.sandbox, self.owner_id = ctx, sandbox, owner_id
        reach = SessionReach.objects.filter(session_id=ctx.session_id).first()
        self.reach = reach
        rules = list(
            ToolRule.objects.filter(Q(owner_id=owner_id) | Q(owner__isnull=True)).values_list(
                "owner_id", "pattern", "action"
            )
        )
        self.policy = ToolPolicy(
            layers=[
                dict(reach.job_rules) if reach else {},
                dict(reach.api_key_rules) if reach else {},
                {p: a for o, p, a in rules if o is not None},
                {p: a for o, p, a in rules if o is None},
            ]
        )
        specs = mcp_specs_for_turn(owner_id=owner_id, reach=reach)
        granted = list(reach.secret_names) if reach else []
        referenced = sorted({n for spec in specs for n in spec.secret_refs()} - set(granted))
        values = secret_values(owner_id=owner_id, names=granted + referenced)
        self.secrets = {n: v for n, v in values.items() if n in granted}  # the sandbox's environment
        self.redactor = Redactor(values)  # what MCP headers and env refer to is redacted too
        self.mcp_secrets = values
        self.specs = specs[: settings.MCP_MAX_SERVERS_PER_TURN]
        self.hub: McpHub | None = None
        self.notes: list[str] = [
            f"MCP server '{s.name}' is left out: at most {settings.MCP_MAX_SERVERS_PER_TURN} servers per turn "
            "(MCP_MAX_SERVERS_PER_TURN)."
            for s in specs[settings.MCP_MAX_SERVERS_PER_TURN :]
        ]
        self._images: list[tuple[str, str, bytes]] = []  # (tool, mime, bytes) for the next model call

    # --- at the start of the turn ------------------------------------------------------

    def prepare_sandbox(self) -> None:
        """Hand the session's secrets to the sandbox (its shells get them as variables)."""
        if self.reach is None:
            return
        try:
            self.sandbox.tool_api.env_set(env=self.secrets)
        except ToolApiError as exc:
            self.notes.append(f"The secrets could not be given to the sandbox ({exc.message}).")

    def tools(self, base: dict[str, Tool[Any]]) -> dict[str, Tool[Any]]:
        """`base` plus the MCP servers' tools, without the blocked ones."""
        tools = dict(base)
        if self.specs:
            self.hub = McpHub(tool_api=self.sandbox.tool_api, secrets=self.mcp_secrets, session_id=self.ctx.session_id)
        for spec in self.specs:
            try:
                infos = self.hub.list_tools(spec) if self.hub else []
            except McpError as exc:
                self._unavailable(spec.name, str(exc))
                continue
            tools.update(mcp_tools_of(self.hub, spec, infos) if self.hub else {})
        if self.policy:
            tools = {name: tool for name, tool in tools.items() if self.policy.action(name) != BLOCK}
        return tools

    def _unavailable(self, server: str, reason: str) -> None:
        reason = self.redactor.text(reason)
        self.notes.append(f"The tools of MCP server '{server}' are not available this time: {reason}")
        self.ctx.publish(
            MessageEvent(role="assistant", content=f"⚠️ MCP server '{server}' is unavailable: {reason}"),
            dedupe_key=f"turn:{self.ctx.turn_id}:mcp:{server}:unavailable",
        )

    def system_note(self) -> str:
        return "".join(f"\n\nNote: {note}" for note in self.notes)

    def close(self) -> None:
        if self.hub is not None:
            self.hub.close()

    # --- approvals -------------------------------------------------------------------

    def resumes_approval(self) -> bool:
        """A turn with no message is the continuation after an approval decision."""
        return not self.ctx.message

    def on_new_message(self) -> None:
        approvals_expire(session_id=self.ctx.session_id)

    def gate(self, *, call_id: str, name: str, arguments: str, reason: str) -> str | None:
        """Before a call runs. None: run it. A string: the call's result instead (denied).
        Raises `ApprovalPending` when the user must decide first."""
        if name in NEVER_GATED or self.policy.action(name) != ASK:
            return None
        decision = approval_decision(session_id=self.ctx.session_id, tool_call_id=call_id)
        if decision == "approved":
            return None
        if decision in ("denied", "expired"):
            note = approval_note(session_id=self.ctx.session_id, tool_call_id=call_id)
            result = DENIED_RESULT.format(note=f": {note}" if note else "")
            self._publish_denied(call_id, name, arguments, result)
            return result
        try:
            args = json.loads(arguments or "{}")
        except ValueError:
            args = {"raw": arguments[:2000]}
        args = self.redactor.mapping(args if isinstance(args, dict) else {"value": args})
        reason = self.redactor.text(reason)
        approval_request(
            session_id=self.ctx.session_id,
            turn_id=self.ctx.turn_id,
            tool_call_id=call_id,
            tool=name,
            args=args,
            reason=reason,
        )
        self.ctx.approval = ApprovalRequest(tool_call_id=call_id, tool=name, args=args, reason=reason)
        raise ApprovalPending(call_id)

    def _publish_denied(self, call_id: str, name: str, arguments: str, result: str) -> None:
        tool = name.split("_", 1)[0]
        try:
            shown = json.loads(arguments or "{}")
        except ValueError:
            shown = {"raw": arguments[:2000]}
        shown = self.redactor.mapping(shown if isinstance(shown, dict) else {"value": shown})
        key = f"turn:{self.ctx.turn_id}:tool:{call_id}"
        self.ctx.publish(
            ToolEvent(tool_call_id=call_id, name=tool, function=name, args=shown, status="calling"),
            dedupe_key=f"{key}:calling",
        )
        self.ctx.publish(
            ToolEvent(
                tool_call_id=call_id,
                name=tool,
                function=name,
                args=shown,
                status="called",
                content={"error": result, "denied": True},
            ),
            dedupe_key=f"{key}:called",
        )

    # --- outputs ---------------------------------------------------------------------

    def redact(self, value: Any) -> Any:
        return self.redactor.value(value) if self.redactor else value

    def keep_images(self, tool: str, images: list[tuple[str, bytes]]) -> None:
        self._images += [(tool, mime, data) for mime, data in images]

    def image_message(self) -> dict[str, Any] | None:
        """The images tools returned this round, as one user message after the tool results."""
        if not self._images:
            return None
        parts: list[dict[str, Any]] = [
            {
                "type": "text",
                "text": "Images returned by " + ", ".join(dict.fromkeys(t for t, _, _ in self._images)) + ":",
            }
        ]
        for _tool, mime, data in self._images:
            url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
            parts.append({"type": "image_url", "image_url": {"url": url}})
        self._images = []
        return {"role": "user", "content": parts}


class ApprovalPending(Exception):  # noqa: N818 - control flow: the turn ends waiting for a decision
    def __init__(self, call_id: str) -> None:
        super().__init__(call_id)
        self.call_id = call_id
