"""What every tool is made of: a typed args model, a function, and what it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from django.conf import settings
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from agents.runtime import TurnContext
    from sandboxes.services import SandboxHandle

    from .browser import BrowserSession


class ToolArgs(BaseModel):
    """Base of every tool's arguments: unknown fields are an error the model can fix."""

    model_config = ConfigDict(extra="forbid")


A = TypeVar("A", bound=ToolArgs)


class ToolFailedError(Exception):
    """A tool could not do what was asked; the message goes back to the model and the user."""


@dataclass
class ToolResult:
    """`output` is what the model reads; `content` what the UI shows (the `tool` event's content)."""

    output: str
    content: dict[str, Any] = field(default_factory=dict)
    ends_turn_waiting: bool = False  # message_ask_user: the turn ends `waiting` after this call
    attachments: list[str] = field(default_factory=list)
    images: list[tuple[str, bytes]] = field(default_factory=list)  # (mime type, bytes) the model is shown


@dataclass
class ToolEnv:
    """What a tool may touch: the turn (publish, stop), the sandbox, the browser, the owner's files."""

    ctx: TurnContext
    sandbox: SandboxHandle
    owner_id: int
    browser: BrowserSession | None = None
    call_id: str = ""  # the tool call being run: keys the events a tool publishes itself
    stored_files: list[str] = field(default_factory=list)  # file ids created during this turn

    @property
    def has_browser(self) -> bool:
        return self.sandbox.has_browser


@dataclass(frozen=True)
class Tool(Generic[A]):
    name: str
    toolkit: str  # shell, file, browser, search, message
    description: str
    args: type[A]
    run: Callable[[ToolEnv, A], ToolResult]

    def schema(self) -> dict[str, Any]:
        """The OpenAI function schema: the args model's JSON schema is what the model sees.
        Built once per tool (pydantic's schema generation was ~5 % of an agent step, for every
        tool at every model round); callers must not modify it."""
        cached: dict[str, Any] | None = self.__dict__.get("_schema")
        if cached is None:
            cached = self._build_schema()
            object.__setattr__(self, "_schema", cached)  # frozen: a cache, not a field
        return cached

    def _build_schema(self) -> dict[str, Any]:
        params = self.args.model_json_schema()
        params.pop("title", None)
        for prop in params.get("properties", {}).values():
            prop.pop("title", None)
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": params},
        }


def truncate(text: str, *, limit: int | None = None, how_to_read_more: str = "") -> str:
    """Keep the head and tail of long output, with a note on what was cut and how to see it."""
    cap = settings.AGENT_TOOL_OUTPUT_CHARS if limit is None else limit
    if len(text) <= cap:
        return text
    head, tail = text[: cap // 2], text[-(cap // 2) :]
    note = f"\n[... {len(text) - len(head) - len(tail)} characters truncated"
    note += f"; {how_to_read_more}" if how_to_read_more else ""
    return head + note + " ...]\n" + tail
