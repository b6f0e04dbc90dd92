"""Clock toolkit: the current date and time in a timezone (models do not know what day it is).

It is also the worked example of docs/adding-a-tool.md: an args model, a function that returns what
the model reads and what the web app shows, and its entry in the registry. It runs on the worker;
tools that act on the sandbox call `env.sandbox.tool_api` instead (see shell.py and file.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field

from .base import Tool, ToolArgs, ToolEnv, ToolFailedError, ToolResult


class ClockNowArgs(ToolArgs):
    timezone: str = Field(
        default="UTC", max_length=64, description="IANA timezone name, e.g. 'Europe/Berlin' or 'America/New_York'."
    )


def clock_now(env: ToolEnv, args: ClockNowArgs) -> ToolResult:
    try:
        zone = ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolFailedError(
            f"unknown timezone '{args.timezone}'; use an IANA name such as 'Europe/Berlin' or 'UTC'"
        ) from None
    now = datetime.now(UTC).astimezone(zone)
    iso = now.isoformat(timespec="seconds")
    weekday = now.strftime("%A")
    return ToolResult(
        output=f"{iso} ({weekday}, {args.timezone})",  # what the model reads
        content={"timezone": args.timezone, "iso": iso, "weekday": weekday},  # the `tool` event's content
    )


TOOLS: dict[str, Tool[Any]] = {
    "clock_now": Tool(
        "clock_now",
        "clock",
        "Get the current date, time and weekday in a timezone (IANA name; default UTC).",
        ClockNowArgs,
        clock_now,
    ),
}
