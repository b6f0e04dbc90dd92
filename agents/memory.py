"""The agent's memory: per session, the plan, the planner's and the executor's message
histories and where the work stands — one MongoDB document, checkpointed after every tool
result, so a redelivered turn resumes instead of starting over.

Histories are compacted to `AGENT_CONTEXT_TOKENS` (estimated at 4 characters a token):
old tool results and old tool-call arguments are elided first, then the oldest exchanges
are dropped whole — an assistant message with tool calls always keeps its tool results.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any, Literal

from django.conf import settings
from pydantic import BaseModel, Field

from anker_project.mongo import get_db
from sessions.events import PlanStep

COLLECTION = "agent_memory"
# Per session: the memory as it was when its latest turn started (what a rollback restores).
TURN_START_COLLECTION = "agent_memory_turn_start"
CHARS_PER_TOKEN = 4
# The newest messages are never elided: the model is working with them.
PROTECTED_TAIL = 6
ELIDE_OVER_CHARS = 200
DROPPED_NOTE = "[Earlier messages were removed to fit the context window. The plan and recent steps follow.]"

Message = dict[str, Any]


class Plan(BaseModel):
    title: str
    goal: str
    language: str
    steps: list[PlanStep]

    def step(self, step_id: str) -> PlanStep:
        return next(s for s in self.steps if s.id == step_id)

    def next_pending(self) -> PlanStep | None:
        return next((s for s in self.steps if s.status in ("pending", "running")), None)


class AgentState(BaseModel):
    session_id: str
    phase: Literal["idle", "executing", "summarizing"] = "idle"
    plan: Plan | None = None
    planner: list[Message] = Field(default_factory=list)
    executor: list[Message] = Field(default_factory=list)
    pending_ask: str | None = None  # tool_call_id of the message_ask_user awaiting the user's answer
    turn_id: str | None = None  # the turn that last worked on this state
    turn_rounds: int = 0  # model rounds `turn_id` has spent (AGENT_MAX_STEPS), kept across a resume
    handled_message_seq: int = 0  # the newest user message the agent has taken in
    next_step_id: int = 1
    plan_version: int = 0
    redone: dict[str, int] = Field(default_factory=dict)  # step id -> times redone after a worker restart
    attachments: list[dict[str, Any]] = Field(default_factory=list)  # delivered FileInfo dumps of this plan


def memory_load(*, session_id: str) -> AgentState:
    doc = get_db()[COLLECTION].find_one({"_id": session_id})
    if doc is None:
        return AgentState(session_id=session_id)
    doc.pop("_id", None)
    doc.pop("updated_at", None)
    return AgentState.model_validate(doc)


def memory_checkpoint(state: AgentState) -> None:
    budget = settings.AGENT_CONTEXT_TOKENS
    state.planner = compact(state.planner, budget=budget)
    state.executor = compact(state.executor, budget=budget)
    # `_id` is set explicitly: the Mongo-compatible test server does not copy it from the filter on upsert.
    doc = {"_id": state.session_id, **state.model_dump(mode="json"), "updated_at": datetime.now(UTC)}
    get_db()[COLLECTION].replace_one({"_id": state.session_id}, doc, upsert=True)


def memory_delete(*, session_id: str) -> None:
    get_db()[COLLECTION].delete_one({"_id": session_id})
    get_db()[TURN_START_COLLECTION].delete_one({"_id": session_id})


def memory_mark_turn_start(*, session_id: str, turn_id: str) -> None:
    """Keep the memory as it is now, as the start of `turn_id`. Once per turn: a turn resumed or
    handed to another worker keeps the copy from its first start. Called under the session lock."""
    db = get_db()
    held = db[TURN_START_COLLECTION].find_one({"_id": session_id}, {"turn_id": 1})
    if held is not None and held.get("turn_id") == turn_id:
        return
    state = db[COLLECTION].find_one({"_id": session_id})
    db[TURN_START_COLLECTION].replace_one(
        {"_id": session_id}, {"_id": session_id, "turn_id": turn_id, "state": state}, upsert=True
    )


def memory_roll_back(*, session_id: str, turn_id: str) -> bool:
    """Put back the memory as it was when `turn_id` started (none, if it had none then). False when
    there is no copy for that turn (it never started: its memory is untouched)."""
    db = get_db()
    held = db[TURN_START_COLLECTION].find_one({"_id": session_id})
    if held is None or held.get("turn_id") != turn_id:
        return False
    state = held.get("state")
    if state is None:
        db[COLLECTION].delete_one({"_id": session_id})
    else:
        db[COLLECTION].replace_one({"_id": session_id}, state, upsert=True)
    db[TURN_START_COLLECTION].delete_one({"_id": session_id})
    return True


def estimate_tokens(messages: list[Message]) -> int:
    return sum(len(json.dumps(m, ensure_ascii=False)) for m in messages) // CHARS_PER_TOKEN


def _units(messages: list[Message]) -> list[list[Message]]:
    """Split into units that must stay whole: an assistant message with tool calls plus its results."""
    units: list[list[Message]] = []
    for message in messages:
        if message.get("role") == "tool" and units and units[-1][0].get("tool_calls"):
            units[-1].append(message)
        else:
            units.append([message])
    return units


def compact(messages: list[Message], *, budget: int) -> list[Message]:
    """A copy of `messages` that fits `budget` tokens where possible (the system prompt and the
    newest exchange are always kept). Tool-call/tool-result pairs are never split."""
    if estimate_tokens(messages) <= budget:
        return messages
    out = copy.deepcopy(messages)
    # 1. Elide old tool results and old tool-call arguments, oldest first.
    for message in out[: max(0, len(out) - PROTECTED_TAIL)]:
        if message.get("role") == "tool" and len(str(message.get("content", ""))) > ELIDE_OVER_CHARS:
            size = len(str(message["content"]))
            message["content"] = f"[old tool output of {size} characters elided; run the tool again if needed]"
        for call in message.get("tool_calls") or []:
            arguments = call.get("function", {}).get("arguments", "")
            if len(arguments) > ELIDE_OVER_CHARS:
                call["function"]["arguments"] = json.dumps({"elided": f"{len(arguments)} characters of arguments"})
        if estimate_tokens(out) <= budget:
            return out
    # 2. Drop the oldest units whole, keeping the system prompt and the newest unit.
    head = [out[0]] if out and out[0].get("role") == "system" else []
    units = _units(out[len(head) :])
    note = [{"role": "user", "content": DROPPED_NOTE}]
    if units and units[0][0].get("content") == DROPPED_NOTE:
        units.pop(0)  # an earlier compaction's note; it is put back first
    while len(units) > 1 and estimate_tokens(head + note + [m for u in units for m in u]) > budget:
        units.pop(0)
    return head + note + [m for u in units for m in u]
