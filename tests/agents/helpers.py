"""Reading a session's event stream in a form tests can compare exactly."""

from __future__ import annotations

from typing import Any

from sessions import eventlog
from sessions.models import Session
from sessions.services import session_create


def new_agent_session(owner: Any) -> Session:
    return session_create(owner_id=owner.pk, mode="agent")


def summary(event: dict[str, Any]) -> tuple[Any, ...]:
    kind = event["type"]
    if kind == "message":
        return ("message", event["role"], event["content"], [a["filename"] for a in event["attachments"]])
    if kind == "title":
        return ("title", event["title"])
    if kind == "plan":
        return ("plan", [(s["id"], s["status"]) for s in event["steps"]])
    if kind == "step":
        return ("step", event["id"], event["status"])
    if kind == "tool":
        return ("tool", event["function"], event["status"], event["tool_call_id"])
    if kind == "status":
        return ("status", event["status"])
    if kind == "error":
        return ("error", event["error"])
    return (kind,)


def timeline(session_id: str) -> list[tuple[Any, ...]]:
    return [summary(e) for e in eventlog.events_after(session_id, 0) if e["type"] != "message_delta"]


def events(session_id: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in eventlog.events_after(session_id, 0) if e["type"] == kind]


def tool_event(session_id: str, call_id: str, status: str = "called") -> dict[str, Any]:
    return next(e for e in events(session_id, "tool") if e["tool_call_id"] == call_id and e["status"] == status)


def assert_gap_and_duplicate_free(session_id: str) -> None:
    stored = eventlog.events_after(session_id, 0)
    seqs = [e["seq"] for e in stored]
    assert seqs == list(range(1, len(seqs) + 1))
