"""A small, strict reader of `text/event-stream` responses for tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Frame:
    id: str | None
    event: str
    data: dict[str, Any]


def frames(response: httpx.Response) -> Iterator[Frame | str]:
    """Yield each event frame, and each comment line (keep-alives) as a str."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line == "":
            if "data" in fields:
                yield Frame(fields.get("id"), fields.get("event", "message"), json.loads(fields["data"]))
            fields = {}
        elif line.startswith(":"):
            yield line
        else:
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value


def read_events(response: httpx.Response) -> list[Frame]:
    return [f for f in frames(response) if isinstance(f, Frame)]
