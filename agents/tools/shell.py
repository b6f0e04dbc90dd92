"""Shell toolkit: persistent shells in the sandbox, addressed by an id the model picks."""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field

from .base import Tool, ToolArgs, ToolEnv, ToolResult, truncate

# shell_wait polls in slices this long so a stop request ends it within about a second.
WAIT_SLICE_SECONDS = 1.0
MAX_WAIT_SECONDS = 600
EXEC_WAIT_SECONDS = 5.0


class ShellExecArgs(ToolArgs):
    id: str = Field(description="Shell session id, e.g. 'main'. Reuse it to keep the working directory and state.")
    exec_dir: str = Field(description="Absolute directory to run the command in.")
    command: str = Field(description="The shell command to run.")


class ShellViewArgs(ToolArgs):
    id: str = Field(description="Shell session id.")


class ShellWaitArgs(ToolArgs):
    id: str = Field(description="Shell session id.")
    seconds: int = Field(default=30, ge=1, le=MAX_WAIT_SECONDS, description="How long to wait for the command.")


class ShellWriteArgs(ToolArgs):
    id: str = Field(description="Shell session id.")
    input: str = Field(description="Text to write to the running process's standard input.")
    press_enter: bool = Field(description="Press Enter after the input.")


class ShellKillArgs(ToolArgs):
    id: str = Field(description="Shell session id.")


def _result(data: dict[str, Any]) -> ToolResult:
    status = data.get("status", "completed")
    code = data.get("returncode")
    head = f"status: {status}" + (f", exit code: {code}" if code is not None else "")
    if status == "running":
        head += " (still running: use shell_wait, shell_view or shell_write_to_process)"
    output = truncate(str(data.get("output", "")), how_to_read_more="redirect output to a file and use file_read")
    return ToolResult(output=f"{head}\n{output}", content={"console": data.get("console", [])})


def shell_exec(env: ToolEnv, args: ShellExecArgs) -> ToolResult:
    data = env.sandbox.tool_api.shell_exec(
        id=args.id, command=args.command, exec_dir=args.exec_dir, wait_seconds=EXEC_WAIT_SECONDS
    )
    return _result(data)


def shell_view(env: ToolEnv, args: ShellViewArgs) -> ToolResult:
    data = env.sandbox.tool_api.shell_view(id=args.id)
    output = truncate(str(data.get("output", "")), how_to_read_more="redirect output to a file and use file_read")
    return ToolResult(output=output, content={"console": data.get("console", [])})


def shell_wait(env: ToolEnv, args: ShellWaitArgs) -> ToolResult:
    deadline = time.monotonic() + args.seconds
    while True:
        env.ctx.check_stop()
        remaining = deadline - time.monotonic()
        data = env.sandbox.tool_api.shell_wait(id=args.id, seconds=max(0.1, min(WAIT_SLICE_SECONDS, remaining)))
        if data.get("status") != "running" or time.monotonic() >= deadline:
            return _result(data)


def shell_write_to_process(env: ToolEnv, args: ShellWriteArgs) -> ToolResult:
    data = env.sandbox.tool_api.shell_write(id=args.id, input=args.input, press_enter=args.press_enter)
    return _result(data)


def shell_kill_process(env: ToolEnv, args: ShellKillArgs) -> ToolResult:
    data = env.sandbox.tool_api.shell_kill(id=args.id)
    killed = data.get("killed_pids", [])
    output = f"killed processes {killed}" if killed else "no process was running"
    return ToolResult(output=output, content={"console": [{"ps1": "", "command": "(killed)", "output": output}]})


TOOLS: dict[str, Tool[Any]] = {
    "shell_exec": Tool(
        "shell_exec",
        "shell",
        "Run a command in a persistent bash shell in the sandbox. Returns after the command ends or 5 seconds; "
        "long commands keep running (use shell_wait).",
        ShellExecArgs,
        shell_exec,
    ),
    "shell_view": Tool("shell_view", "shell", "Show a shell's latest output.", ShellViewArgs, shell_view),
    "shell_wait": Tool(
        "shell_wait", "shell", "Wait for the running command of a shell to finish.", ShellWaitArgs, shell_wait
    ),
    "shell_write_to_process": Tool(
        "shell_write_to_process",
        "shell",
        "Write input to the process running in a shell (answer a prompt).",
        ShellWriteArgs,
        shell_write_to_process,
    ),
    "shell_kill_process": Tool(
        "shell_kill_process", "shell", "Kill the process running in a shell.", ShellKillArgs, shell_kill_process
    ),
}
