"""The one schema of session events.

Every event the system emits is one of the models below. The publisher stores the
model's dump in the event log and sends the very same dump to readers: over WebSocket
as ``{"event": type, "data": dump}`` and over SSE as ``id: seq`` / ``event: type`` /
``data: json(dump)``. ``event_id`` (the ``seq`` as a string), ``seq`` and ``timestamp``
are assigned by the publisher; producers leave them unset.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

# `cancelled`: the turn was stopped (or interrupted by a newer message) before the step ended.
StepStatus = Literal["pending", "running", "completed", "failed", "cancelled"]
# `stopped`: the user stopped the session's work; never shown as a success.
SessionStatusValue = Literal["pending", "running", "waiting", "completed", "stopped", "failed"]
ToolStatus = Literal["calling", "called"]
Role = Literal["user", "assistant"]


class FileInfo(BaseModel):
    """A file attached to a message: stored in GridFS, downloadable by its owner."""

    file_id: str
    filename: str
    content_type: str = "application/octet-stream"
    size: int = 0
    file_url: str = ""


class PlanStep(BaseModel):
    id: str
    description: str
    status: StepStatus = "pending"
    result: str | None = None


class ConsoleRecord(BaseModel):
    ps1: str
    command: str
    output: str


class _EventBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str = ""
    seq: int = 0
    timestamp: int = Field(default_factory=lambda: int(time.time()))
    turn_id: str | None = None


class MessageEvent(_EventBase):
    type: Literal["message"] = "message"
    role: Role
    content: str
    attachments: list[FileInfo] = Field(default_factory=list)
    # True on the final message of a stopped turn: the answer as far as it got.
    cut_short: bool = False


class MessageDeltaEvent(_EventBase):
    """A piece of the assistant's answer while it streams; the full ``message`` follows."""

    type: Literal["message_delta"] = "message_delta"
    role: Role = "assistant"
    delta: str


class ReasoningEvent(_EventBase):
    """What a thinking model reasoned before an answer or a round of tool calls
    (`reasoning_content` / `reasoning`). Shown collapsed; never part of the answer, never sent
    back to the model. Long reasoning is cut to ``REASONING_MAX_CHARS``."""

    type: Literal["reasoning"] = "reasoning"
    content: str


class TitleEvent(_EventBase):
    type: Literal["title"] = "title"
    title: str


class PlanEvent(_EventBase):
    type: Literal["plan"] = "plan"
    steps: list[PlanStep]


class StepEvent(_EventBase):
    type: Literal["step"] = "step"
    id: str
    description: str
    status: StepStatus
    result: str | None = None


class ToolEvent(_EventBase):
    """A tool call: sent with ``status="calling"`` before and ``"called"`` after.

    ``name`` is the toolkit (shell, file, browser, search, message), ``function`` the
    tool; ``content`` is what the UI shows (console records, file text, a screenshot
    file, search results) and is only set on ``called``. A call a stop cut off ends
    ``called`` with ``stopped`` true (and what it showed so far in ``content``).
    """

    type: Literal["tool"] = "tool"
    tool_call_id: str
    name: str
    function: str
    args: dict[str, Any] = Field(default_factory=dict)
    status: ToolStatus
    content: dict[str, Any] | None = None
    stopped: bool = False


class ErrorEvent(_EventBase):
    type: Literal["error"] = "error"
    error: str


class DoneEvent(_EventBase):
    type: Literal["done"] = "done"


class ApprovalRequest(BaseModel):
    """A tool call waiting for the user's approval: what would run, with what, and why."""

    tool_call_id: str
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""


class WaitEvent(_EventBase):
    """The agent asked the user something, or a tool call waits for approval (``approval``);
    the turn ends ``waiting``."""

    type: Literal["wait"] = "wait"
    approval: ApprovalRequest | None = None


class StatusEvent(_EventBase):
    type: Literal["status"] = "status"
    status: SessionStatusValue
    # A sentence about a long wait while the status holds (e.g. the sandbox image being built).
    note: str = ""


class RollbackEvent(_EventBase):
    """Turns were rolled back (``multitask_strategy=rollback``): every event of ``turn_ids`` with
    a seq from ``from_seq`` to ``to_seq`` is discarded. The log no longer returns them (replay,
    ``GET /sessions/{id}``); a reader that already has them drops them when this event arrives.
    ``turn_id`` is the turn that was running (null when only queued turns were rolled back)."""

    type: Literal["rollback"] = "rollback"
    turn_ids: list[str]
    from_seq: int
    to_seq: int


Event = Annotated[
    MessageEvent
    | MessageDeltaEvent
    | ReasoningEvent
    | TitleEvent
    | PlanEvent
    | StepEvent
    | ToolEvent
    | ErrorEvent
    | DoneEvent
    | WaitEvent
    | StatusEvent
    | RollbackEvent,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

# A turn's stream ends with one of these (a `rollback` ends every turn it names in `turn_ids`).
TERMINAL_TYPES = frozenset({"done", "error", "wait", "rollback"})


def event_ends_turn(event: dict[str, Any], turn_id: str) -> bool:
    """Whether `event` is the last one `turn_id` has: its end, or a rollback that discards it."""
    if event.get("type") not in TERMINAL_TYPES:
        return False
    return event.get("turn_id") == turn_id or turn_id in (event.get("turn_ids") or ())


def event_parse(data: dict[str, Any]) -> Event:
    """Validate a stored or received dump back into its model."""
    return EVENT_ADAPTER.validate_python(data)


def event_json_schema() -> dict[str, Any]:
    """The JSON schema of every event; the frontend's types are generated from it."""
    schema = EVENT_ADAPTER.json_schema(mode="serialization")
    schema["title"] = "AnkerEvent"
    return schema
