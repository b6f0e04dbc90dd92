"""The route table: which JSON endpoint calls which service, and the one method each path accepts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from . import models
from .app import App


@dataclass(frozen=True)
class JsonRoute:
    model: type[BaseModel]
    handler: Callable[[App, Any], BaseModel]


JSON_ROUTES: dict[str, JsonRoute] = {
    "/shell/exec": JsonRoute(models.ShellExecRequest, lambda a, r: a.shells.exec(r)),
    "/shell/view": JsonRoute(models.ShellIdRequest, lambda a, r: a.shells.view(r)),
    "/shell/wait": JsonRoute(models.ShellWaitRequest, lambda a, r: a.shells.wait(r)),
    "/shell/write": JsonRoute(models.ShellWriteRequest, lambda a, r: a.shells.write(r)),
    "/shell/kill": JsonRoute(models.ShellIdRequest, lambda a, r: a.shells.kill(r)),
    "/shell/interrupt": JsonRoute(models.ShellInterruptRequest, lambda a, r: a.shells.interrupt(r)),
    "/file/read": JsonRoute(models.FileReadRequest, lambda a, r: a.files.read(r)),
    "/file/write": JsonRoute(models.FileWriteRequest, lambda a, r: a.files.write(r)),
    "/file/str_replace": JsonRoute(models.FileStrReplaceRequest, lambda a, r: a.files.str_replace(r)),
    "/file/search": JsonRoute(models.FileSearchRequest, lambda a, r: a.files.search(r)),
    "/file/find": JsonRoute(models.FileFindRequest, lambda a, r: a.files.find(r)),
    "/file/list": JsonRoute(models.FileListRequest, lambda a, r: a.files.list(r)),
    "/env": JsonRoute(models.EnvSetRequest, lambda a, r: a.set_env(r)),
    "/mcp/start": JsonRoute(models.McpStartRequest, lambda a, r: a.mcp.start(r, a.shells.extra_env)),
    "/mcp/send": JsonRoute(models.McpSendRequest, lambda a, r: a.mcp.send(r)),
    "/mcp/recv": JsonRoute(models.McpRecvRequest, lambda a, r: a.mcp.recv(r)),
    "/mcp/stop": JsonRoute(models.McpIdRequest, lambda a, r: a.mcp.stop(r)),
}
# path -> the one method it accepts
METHODS: dict[str, str] = {path: "POST" for path in JSON_ROUTES} | {
    "/file/upload": "POST",
    "/file/download": "GET",
    "/health": "GET",
    "/cdp": "GET",  # WebSocket upgrades, relayed to the desktop (relay.py)
    "/vnc": "GET",
}
