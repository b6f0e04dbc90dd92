"""MCP tools as agent tools: `mcp_<server>_<tool>`, the server's JSON schema as parameters,
text and images back to the model, the `tool` event's content for the timeline."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ConfigDict

from agents.tools.base import Tool, ToolArgs, ToolEnv, ToolFailedError, ToolResult, truncate
from sessions.files import file_store

from .mcp_client import McpError, McpHub, McpServerSpec, McpToolInfo

TOOLKIT = "mcp"
MAX_NAME = 64  # OpenAI's limit on function names


class McpToolArgs(ToolArgs):
    """Whatever the server's schema asks for: the server validates its own arguments."""

    model_config = ConfigDict(extra="allow")


@dataclass(frozen=True)
class McpTool(Tool[McpToolArgs]):
    parameters: dict[str, Any] = field(default_factory=dict)
    server: str = ""
    remote_name: str = ""

    def schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


def tool_name(server: str, tool: str) -> str:
    return f"mcp_{server}_{re.sub(r'[^A-Za-z0-9_-]', '_', tool)}"[:MAX_NAME]


def _parameters(schema: dict[str, Any]) -> dict[str, Any]:
    params = dict(schema) if isinstance(schema, dict) else {}
    params.setdefault("type", "object")
    params.setdefault("properties", {})
    return params


def _runner(hub: McpHub, spec: McpServerSpec, remote: str) -> Callable[[ToolEnv, McpToolArgs], ToolResult]:
    def run(env: ToolEnv, args: McpToolArgs) -> ToolResult:
        env.ctx.check_stop()
        try:
            result = hub.call(spec, remote, dict(args.model_extra or {}))
        except McpError as exc:
            raise ToolFailedError(str(exc)) from exc
        if result.is_error:
            raise ToolFailedError(f"MCP tool {remote} of '{spec.name}' returned an error: {result.text[:2000]}")
        image_ids = []
        for index, (mime, data) in enumerate(result.images):
            extension = mime.rsplit("/", 1)[-1].split("+")[0] or "bin"
            stored = file_store(
                owner_id=env.owner_id,
                filename=f"{spec.name}-{remote}-{env.call_id or 'call'}-{index + 1}.{extension}",
                data=data,
                session_id=env.ctx.session_id,
                content_type=mime,
                source="mcp",
            )
            env.stored_files.append(stored.file_id)
            image_ids.append(stored.file_id)
        text = truncate(result.text)
        output = text or "(no text)"
        if result.images:
            output += f"\n[{len(result.images)} image(s) returned: shown to you after the tool results]"
        return ToolResult(
            output=output,
            content={"server": spec.name, "tool": remote, "text": text, "image_file_ids": image_ids},
            images=[(mime, data) for mime, data in result.images],
        )

    return run


def mcp_tools_of(hub: McpHub, spec: McpServerSpec, infos: list[McpToolInfo]) -> dict[str, Tool[Any]]:
    tools: dict[str, Tool[Any]] = {}
    for info in infos:
        name = tool_name(spec.name, info.name)
        description = (info.description or info.name)[:1000] + f" (MCP server '{spec.name}')"
        tools[name] = McpTool(
            name,
            TOOLKIT,
            description,
            McpToolArgs,
            _runner(hub, spec, info.name),
            parameters=_parameters(info.input_schema),
            server=spec.name,
            remote_name=info.name,
        )
    return tools
