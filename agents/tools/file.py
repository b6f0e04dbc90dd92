"""File toolkit: read, write, edit and find files in the sandbox."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .base import Tool, ToolArgs, ToolEnv, ToolResult, truncate


class FileReadArgs(ToolArgs):
    file: str = Field(description="Absolute path of the file.")
    start_line: int | None = Field(default=None, ge=0, description="First line to read (0-based).")
    end_line: int | None = Field(default=None, ge=0, description="Line to stop before (exclusive).")


class FileWriteArgs(ToolArgs):
    file: str = Field(description="Absolute path of the file.")
    content: str = Field(description="Text to write.")
    append: bool = Field(default=False, description="Append instead of overwriting.")
    leading_newline: bool = Field(default=False)
    trailing_newline: bool = Field(default=False)


class FileStrReplaceArgs(ToolArgs):
    file: str = Field(description="Absolute path of the file.")
    old_str: str = Field(description="Exact text to replace (every occurrence).")
    new_str: str = Field(description="Replacement text.")


class FileFindInContentArgs(ToolArgs):
    file: str = Field(description="Absolute path of the file.")
    regex: str = Field(description="Python regular expression to search for.")


class FileFindByNameArgs(ToolArgs):
    path: str = Field(description="Absolute directory to search in.")
    glob: str = Field(description="Glob pattern, '**' recurses, e.g. '**/*.py'.")


def file_read(env: ToolEnv, args: FileReadArgs) -> ToolResult:
    data = env.sandbox.tool_api.file_read(file=args.file, start_line=args.start_line, end_line=args.end_line)
    content = str(data.get("content", ""))
    shown = truncate(content, how_to_read_more="read a smaller range with start_line/end_line")
    total = data.get("total_lines")
    return ToolResult(
        output=f"{args.file} ({total} lines)\n{shown}",
        content={"file": data.get("file", args.file), "content": content},
    )


def file_write(env: ToolEnv, args: FileWriteArgs) -> ToolResult:
    data = env.sandbox.tool_api.file_write(
        file=args.file,
        content=args.content,
        append=args.append,
        leading_newline=args.leading_newline,
        trailing_newline=args.trailing_newline,
    )
    content: dict[str, Any] = {"file": data.get("file", args.file), "content": args.content}
    if data.get("old_content") is not None:
        content["old_content"] = data["old_content"]
    return ToolResult(output=f"wrote {data.get('bytes_written', 0)} bytes to {args.file}", content=content)


def file_str_replace(env: ToolEnv, args: FileStrReplaceArgs) -> ToolResult:
    data = env.sandbox.tool_api.file_str_replace(file=args.file, old_str=args.old_str, new_str=args.new_str)
    content: dict[str, Any] = {"file": data.get("file", args.file), "content": data.get("new_content") or ""}
    if data.get("old_content") is not None:
        content["old_content"] = data["old_content"]
    return ToolResult(output=f"replaced {data.get('count', 0)} occurrence(s) in {args.file}", content=content)


def file_find_in_content(env: ToolEnv, args: FileFindInContentArgs) -> ToolResult:
    data = env.sandbox.tool_api.file_search(file=args.file, regex=args.regex)
    lines = [f"{m['line_number']}: {m['line']}" for m in data.get("matches", [])]
    text = "\n".join(lines) if lines else "no match"
    if data.get("truncated"):
        text += "\n[more matches not shown: narrow the regex]"
    return ToolResult(output=truncate(text), content={"file": data.get("file", args.file), "content": text})


def file_find_by_name(env: ToolEnv, args: FileFindByNameArgs) -> ToolResult:
    data = env.sandbox.tool_api.file_find(path=args.path, glob=args.glob)
    text = "\n".join(data.get("files", [])) or "no file matches"
    if data.get("truncated"):
        text += "\n[more files not shown: narrow the glob]"
    return ToolResult(output=truncate(text), content={"file": data.get("path", args.path), "content": text})


TOOLS: dict[str, Tool[Any]] = {
    "file_read": Tool("file_read", "file", "Read a text file (optionally a line range).", FileReadArgs, file_read),
    "file_write": Tool("file_write", "file", "Write or append text to a file.", FileWriteArgs, file_write),
    "file_str_replace": Tool(
        "file_str_replace", "file", "Replace exact text in a file.", FileStrReplaceArgs, file_str_replace
    ),
    "file_find_in_content": Tool(
        "file_find_in_content",
        "file",
        "Find lines matching a regex in a file.",
        FileFindInContentArgs,
        file_find_in_content,
    ),
    "file_find_by_name": Tool(
        "file_find_by_name",
        "file",
        "Find files by glob pattern under a directory.",
        FileFindByNameArgs,
        file_find_by_name,
    ),
}
