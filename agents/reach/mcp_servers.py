"""MCP server definitions: checked (422 says why), stored per user or globally, and gathered
for a session's turn."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q

from anker_project.errors import ApplicationError, NotFoundError

from .mcp_client import McpError, McpServerSpec, url_check
from .models import SERVER_NAME_RE, McpServer, McpTransport, SessionReach

PROGRAM_RE = r"^[A-Za-z0-9_./+@-]{1,255}$"
ENV_NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
HEADER_NAME_RE = r"^[A-Za-z0-9-]{1,100}$"
MAX_ARGS = 64


class McpServerInvalidError(ApplicationError):
    status = 422


def _strings(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise McpServerInvalidError(f"{what} must be an object of strings")
    out = {}
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str) or "\0" in item or "\n" in item:
            raise McpServerInvalidError(f"{what}: every name and value must be a one-line string")
        out[key] = item
    return out


def mcp_server_spec_check(data: Mapping[str, Any]) -> McpServerSpec:
    """A server definition as a user, staff or a job gives it; McpServerInvalidError says what to fix."""
    name = data.get("name")
    if not isinstance(name, str) or not re.fullmatch(SERVER_NAME_RE, name):
        raise McpServerInvalidError(
            "name must be 1-20 lowercase letters and digits, starting with a letter (tools are named mcp_<name>_<tool>)"
        )
    transport = data.get("transport")
    if transport not in McpTransport.values:
        raise McpServerInvalidError(f"unknown transport {transport!r}: use 'stdio' or 'http'")
    if transport == McpTransport.STDIO:
        command = data.get("command")
        if data.get("url") or data.get("headers"):
            raise McpServerInvalidError("a stdio server has a command, not a url or headers")
        if not isinstance(command, list) or not command or len(command) > MAX_ARGS:
            raise McpServerInvalidError(
                f"command must be a list of 1 to {MAX_ARGS} strings (the program and its arguments)"
            )
        if not all(isinstance(a, str) and len(a) <= 4096 and "\0" not in a and "\n" not in a for a in command):
            raise McpServerInvalidError("every command argument must be a one-line string of at most 4096 characters")
        if not re.fullmatch(PROGRAM_RE, command[0]):
            raise McpServerInvalidError(
                f"command[0] {command[0][:100]!r} must be a program name or path (no spaces or shell syntax: "
                "the command is not run by a shell)"
            )
        env = _strings(data.get("env") or {}, "env")
        bad = [k for k in env if not re.fullmatch(ENV_NAME_RE, k) or k.startswith("TOOLAPI_")]
        if bad:
            raise McpServerInvalidError(f"env names must be environment variable names: {', '.join(bad)[:200]}")
        return McpServerSpec(name=name, transport="stdio", command=list(command), env=env)
    url = data.get("url")
    if data.get("command") or data.get("env"):
        raise McpServerInvalidError("an http server has a url (and headers), not a command or env")
    if not isinstance(url, str) or len(url) > 2000:
        raise McpServerInvalidError("url must be the server's http(s) MCP endpoint")
    try:
        url_check(url)
    except McpError as exc:
        raise McpServerInvalidError(f"url: {exc}") from exc
    headers = _strings(data.get("headers") or {}, "headers")
    bad = [k for k in headers if not re.fullmatch(HEADER_NAME_RE, k)]
    if bad:
        raise McpServerInvalidError(f"header names must be letters, digits and '-': {', '.join(bad)[:200]}")
    return McpServerSpec(name=name, transport="http", url=url, headers=headers)


def spec_of(server: McpServer) -> McpServerSpec:
    return McpServerSpec(
        name=server.name,
        transport=server.transport,  # type: ignore[arg-type]
        command=list(server.command or []),
        env=dict(server.env or {}),
        url=server.url,
        headers=dict(server.headers or {}),
    )


def mcp_server_create(*, owner_id: int | None, data: Mapping[str, Any], enabled: bool = True) -> McpServer:
    spec = mcp_server_spec_check(data)
    try:
        with transaction.atomic():
            return McpServer.objects.create(
                owner_id=owner_id, enabled=enabled, **spec.model_dump(exclude={"name"}), name=spec.name
            )
    except IntegrityError as exc:
        raise McpServerInvalidError(f"you already have an MCP server named {spec.name!r}") from exc


def mcp_server_update(*, owner_id: int, server_id: str, data: Mapping[str, Any], enabled: bool) -> McpServer:
    server = mcp_server_get(owner_id=owner_id, server_id=server_id)
    spec = mcp_server_spec_check({**data, "name": data.get("name", server.name)})
    try:
        with transaction.atomic():
            McpServer.objects.filter(pk=server.pk).update(enabled=enabled, **spec.model_dump())
    except IntegrityError as exc:
        raise McpServerInvalidError(f"you already have an MCP server named {spec.name!r}") from exc
    server.refresh_from_db()
    return server


def mcp_server_get(*, owner_id: int, server_id: str) -> McpServer:
    pk = _uuid_or_none(server_id)
    server = McpServer.objects.filter(pk=pk, owner_id=owner_id).first() if pk else None
    if server is None:
        raise NotFoundError("MCP server not found")
    return server


def mcp_server_delete(*, owner_id: int, server_id: str) -> None:
    server = mcp_server_get(owner_id=owner_id, server_id=server_id)
    server.delete()


def mcp_servers_of_owner(*, owner_id: int) -> list[McpServer]:
    return list(McpServer.objects.filter(Q(owner_id=owner_id) | Q(owner__isnull=True)).order_by("name", "owner_id"))


def mcp_specs_for_turn(*, owner_id: int, reach: SessionReach | None) -> list[McpServerSpec]:
    """Global, then the owner's, then the job's servers; a later one of the same name replaces
    an earlier one (a user may override a global server's definition)."""
    specs: dict[str, McpServerSpec] = {}
    servers = McpServer.objects.filter(Q(owner_id=owner_id) | Q(owner__isnull=True), enabled=True)
    for server in sorted(servers, key=lambda s: s.owner_id is not None):
        specs[server.name] = spec_of(server)
    for raw in reach.mcp_servers if reach is not None else []:
        spec = McpServerSpec.model_validate(raw)
        specs[spec.name] = spec
    return list(specs.values())


def _uuid_or_none(value: str) -> str | None:
    return value if re.fullmatch(r"[0-9a-fA-F-]{32,36}", value or "") else None
