"""What real models send that the agent copes with: tool arguments that are almost JSON, and
readable errors when arguments miss a field.

The repair is one deterministic round on the worker (no extra model call): a Markdown code fence,
a trailing comma, missing closing brackets, arguments encoded twice as a JSON string, or an empty
string for a tool without arguments. What it cannot repair goes back to the model as the call's
result, saying what was wrong and which fields the tool takes, so its next call can fix it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from sessions.events import ReasoningEvent

_FENCE = re.compile(r"^```[a-zA-Z]*\s*(.*?)\s*```$", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


class ArgumentsError(ValueError):
    """The arguments are not a JSON object, even after the repair round."""


def parse_arguments(text: str | None) -> dict[str, Any]:
    """The tool call's arguments as a dict; raises ArgumentsError with a readable reason."""
    raw = (text or "").strip()
    if not raw:
        return {}
    value = _loads(raw)
    if value is None:
        value = _loads(_repair(raw))
    if isinstance(value, str):  # arguments JSON-encoded twice (seen from some Qwen/Llama servers)
        value = _loads(value.strip()) if value.strip().startswith("{") else value
    if value is None:
        raise ArgumentsError(
            "the arguments are not valid JSON (even after removing code fences and trailing commas and "
            "closing brackets); send them again as one JSON object"
        )
    if not isinstance(value, dict):
        raise ArgumentsError(f"the arguments must be a JSON object, not {type(value).__name__}")
    return value


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _repair(text: str) -> str:
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    text = _TRAILING_COMMA.sub(r"\1", text)
    # Close what a cut-short answer left open (outside strings).
    stack: list[str] = []
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack and stack[-1] == ch:
            stack.pop()
    if in_string:
        text += '"'
    return _TRAILING_COMMA.sub(r"\1", text + "".join(reversed(stack)))


def argument_problem(model: type[BaseModel], exc: ValidationError) -> str:
    """Which fields are missing or wrong, and which fields the tool takes."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "arguments"
        if error["type"] == "missing":
            problems.append(f"missing required field '{where}'")
        else:
            problems.append(f"{where}: {error['msg']}")
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    fields = [
        f"{name} ({prop.get('type', 'value')}{', required' if name in required else ''})"
        for name, prop in schema.get("properties", {}).items()
    ]
    expected = f". The tool takes: {', '.join(fields)}" if fields else ""
    return "; ".join(problems) + expected


# Enough to follow a model's train of thought; a runaway reasoning stream is not stored whole.
REASONING_MAX_CHARS = 20_000


def reasoning_event(reasoning: str) -> ReasoningEvent | None:
    """The timeline event for what a thinking model reasoned, or None when it sent none."""
    text = reasoning.strip()
    if not text:
        return None
    if len(text) > REASONING_MAX_CHARS:
        text = text[:REASONING_MAX_CHARS] + " …"
    return ReasoningEvent(content=text)
