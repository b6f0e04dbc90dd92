"""Request and response bodies of the tool API (pydantic v2).

Every success is ``{"ok": true, "data": <one of the *Result models>}`` and every
error ``{"ok": false, "error": "<readable message>"}``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

ShellId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Path = Annotated[str, StringConstraints(min_length=1, max_length=4096)]

# Keys /shell/write can send, as the bytes a terminal would.
KEYS: dict[str, bytes] = {
    "enter": b"\r",
    "tab": b"\t",
    "escape": b"\x1b",
    "backspace": b"\x7f",
    "up": b"\x1b[A",
    "down": b"\x1b[B",
    "right": b"\x1b[C",
    "left": b"\x1b[D",
    "home": b"\x1b[H",
    "end": b"\x1b[F",
    "page_up": b"\x1b[5~",
    "page_down": b"\x1b[6~",
    "delete": b"\x1b[3~",
    "ctrl_c": b"\x03",
    "ctrl_d": b"\x04",
    "ctrl_z": b"\x1a",
    "ctrl_backslash": b"\x1c",
    "ctrl_l": b"\x0c",
    "ctrl_u": b"\x15",
}
Key = Literal[
    "enter", "tab", "escape", "backspace", "up", "down", "right", "left", "home", "end",
    "page_up", "page_down", "delete", "ctrl_c", "ctrl_d", "ctrl_z", "ctrl_backslash",
    "ctrl_l", "ctrl_u",
]  # fmt: skip


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- envelope ---------------------------------------------------------------


class Success(BaseModel):
    ok: Literal[True] = True
    data: Any


class Failure(BaseModel):
    ok: Literal[False] = False
    error: str


# --- shell ------------------------------------------------------------------


class ShellExecRequest(Request):
    id: ShellId
    command: Annotated[str, StringConstraints(min_length=1, max_length=1_000_000)]
    exec_dir: Path | None = None
    wait_seconds: Annotated[float, Field(ge=0, le=3600)] = 5.0
    # Kill the command after this long; capped by TOOLAPI_MAX_COMMAND_SECONDS.
    timeout_seconds: Annotated[float, Field(gt=0)] | None = None


class ShellIdRequest(Request):
    id: ShellId


class ShellWaitRequest(Request):
    id: ShellId
    seconds: Annotated[float, Field(ge=0, le=3600)] = 10.0


class ShellWriteRequest(Request):
    id: ShellId
    input: Annotated[str, StringConstraints(max_length=1_000_000)] = ""
    press_enter: bool = False
    key: Key | None = None
    # How long to wait for the command to finish before answering.
    wait_seconds: Annotated[float, Field(ge=0, le=600)] = 1.0


class ShellInterruptRequest(Request):
    # Without an id, every shell's running command is interrupted.
    id: ShellId | None = None
    # How long the command gets to end after SIGINT before its process group is killed.
    grace_seconds: Annotated[float, Field(ge=0, le=30)] = 3.0


class ShellInterruptResult(BaseModel):
    # The shells whose command was running, each with its command's result after the interrupt.
    interrupted: list[ShellCommandResult]


class ConsoleRecord(BaseModel):
    ps1: str
    command: str
    output: str


class ShellCommandResult(BaseModel):
    id: str
    status: Literal["running", "completed"]
    returncode: int | None
    output: str
    console: list[ConsoleRecord]


class ShellViewResult(BaseModel):
    id: str
    output: str
    console: list[ConsoleRecord]


class ShellKillResult(BaseModel):
    id: str
    killed_pids: list[int]
    output: str


# --- files ------------------------------------------------------------------


class FileReadRequest(Request):
    file: Path
    start_line: Annotated[int, Field(ge=0)] | None = None
    end_line: Annotated[int, Field(ge=0)] | None = None
    max_chars: Annotated[int, Field(ge=1, le=10_000_000)] = 200_000


class FileReadResult(BaseModel):
    file: str
    content: str
    total_lines: int
    truncated: bool


class FileWriteRequest(Request):
    file: Path
    content: str
    append: bool = False
    leading_newline: bool = False
    trailing_newline: bool = False


class FileWriteResult(BaseModel):
    file: str
    bytes_written: int
    old_content: str | None


class FileStrReplaceRequest(Request):
    file: Path
    old_str: Annotated[str, StringConstraints(min_length=1)]
    new_str: str


class FileStrReplaceResult(BaseModel):
    file: str
    count: int
    old_content: str | None
    new_content: str | None


class FileSearchRequest(Request):
    file: Path
    regex: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]


class SearchMatch(BaseModel):
    line_number: int  # 1-based, as grep -n
    line: str


class FileSearchResult(BaseModel):
    file: str
    matches: list[SearchMatch]
    truncated: bool


class FileFindRequest(Request):
    path: Path
    glob: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class FileFindResult(BaseModel):
    path: str
    files: list[str]
    truncated: bool


class FileListRequest(Request):
    path: Path


EntryType = Literal["file", "dir", "symlink", "other"]


class ListEntry(BaseModel):
    name: str
    type: EntryType
    size: int
    mtime: float


class FileListResult(BaseModel):
    path: str
    entries: list[ListEntry]
    truncated: bool


class FileUploadResult(BaseModel):
    file: str
    bytes_written: int
    sha256: str


# --- health -----------------------------------------------------------------

ServiceState = Literal["ok", "down", "absent", "idle"]  # idle: on demand, not started yet


class HealthResult(BaseModel):
    toolapi: Literal["ok"] = "ok"
    x: ServiceState
    cdp: ServiceState
    vnc: ServiceState
    ready: bool  # every expected service is ok (or idle: it starts on the first /cdp or /vnc)


# --- session environment (secrets) and MCP stdio servers ----------------------

EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
McpId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class EnvSetRequest(Request):
    """Variables every shell and MCP server started from now on gets; their values are also
    redacted from every response. A change restarts the shells (they start with the new env)."""

    env: dict[EnvName, Annotated[str, StringConstraints(max_length=65536)]]


class EnvSetResult(BaseModel):
    names: list[str]
    shells_restarted: int


class McpStartRequest(Request):
    id: McpId
    command: Annotated[list[Annotated[str, StringConstraints(max_length=4096)]], Field(min_length=1, max_length=64)]
    env: dict[EnvName, Annotated[str, StringConstraints(max_length=65536)]] = {}


class McpSendRequest(Request):
    id: McpId
    message: dict[str, Any]


class McpRecvRequest(Request):
    id: McpId
    wait_seconds: Annotated[float, Field(ge=0, le=60)] = 5.0


class McpIdRequest(Request):
    id: McpId


class McpStartResult(BaseModel):
    id: str
    running: bool


class McpRecvResult(BaseModel):
    id: str
    messages: list[dict[str, Any]]
    exited: bool
    returncode: int | None
    stderr: str
