"""The agent's tools, one module per toolkit, and the registry the executor offers."""

from __future__ import annotations

from typing import Any

from agents.search import search_provider

from . import browser, clock, file, message, search, shell
from .base import Tool, ToolArgs, ToolEnv, ToolFailedError, ToolResult

REGISTRY: dict[str, Tool[Any]] = {
    **shell.TOOLS,
    **file.TOOLS,
    **browser.TOOLS,
    **search.TOOLS,
    **message.TOOLS,
    **clock.TOOLS,
}


def tools_available(*, has_browser: bool) -> dict[str, Tool[Any]]:
    """The tools this sandbox and configuration can serve: no browser tools without Chromium,
    no search without a configured provider."""
    tools = dict(REGISTRY)
    if not has_browser:
        tools = {k: v for k, v in tools.items() if v.toolkit != "browser"}
    if search_provider() is None:
        tools = {k: v for k, v in tools.items() if v.toolkit != "search"}
    return tools


__all__ = ["REGISTRY", "Tool", "ToolArgs", "ToolEnv", "ToolFailedError", "ToolResult", "tools_available"]
