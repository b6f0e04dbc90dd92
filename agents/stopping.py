"""What a stopped turn leaves in the log: a final answer marked as cut short, and a terminal
state for every step, plan item and tool call that was still open.

Worked out from the log itself, so it holds whoever ends the turn (its worker, the watchdog
for a dead one, or a stop that finds the session waiting) and whatever reads the log after
(the web app, a seed-era client, an API poller): nothing is left `running` or `calling`.
"""

from __future__ import annotations

from typing import Any

from sessions import eventlog
from sessions.events import MessageEvent, PlanEvent, PlanStep, StepEvent, ToolEvent
from sessions.publisher import event_publish

# How far back a stop looks for open work: a session's recent steps, plans and tool calls.
OPEN_WORK_SCAN_EVENTS = 5000
STOPPED_TOOL_NOTE = "Stopped before it finished."


def _partial_answer(session_id: str, turn_id: str, after_seq: int) -> str:
    """The text streamed by the turn since its last full assistant message."""
    text = ""
    for event in eventlog.events_after(session_id, after_seq, limit=OPEN_WORK_SCAN_EVENTS):
        if event.get("turn_id") != turn_id:
            continue
        if event["type"] == "message_delta":
            text += str(event.get("delta", ""))
        elif event["type"] == "message" and event.get("role") == "assistant":
            text = ""
    return text


def turn_close_open_work(*, session_id: str, turn_id: str | None, after_seq: int, plan_too: bool) -> None:
    """Publish the end of whatever the session left open.

    `turn_id`/`after_seq`: the stopped turn and the seq of its user message (its streamed,
    unfinished answer becomes its final `message`, marked `cut_short`). `plan_too`: also end
    the plan's pending items (a stop; a newer message re-plans them instead).
    """
    if turn_id is not None:
        partial = _partial_answer(session_id, turn_id, after_seq)
        if partial.strip():
            event_publish(
                session_id,
                MessageEvent(role="assistant", content=partial, cut_short=True, turn_id=turn_id),
                dedupe_key=f"turn:{turn_id}:answer",
            )
    events = eventlog.events_of_types(session_id, ("step", "tool", "plan"), limit=OPEN_WORK_SCAN_EVENTS)
    steps: dict[tuple[str | None, str], dict[str, Any]] = {}
    tools: dict[str, dict[str, Any]] = {}
    plan: dict[str, Any] | None = None
    for event in events:
        if event["type"] == "step":
            steps[(event.get("turn_id"), event["id"])] = event
        elif event["type"] == "tool":
            tools[event["tool_call_id"]] = event
        else:
            plan = event
    for call in tools.values():
        if call["status"] == "calling":
            event_publish(
                session_id,
                ToolEvent(
                    tool_call_id=call["tool_call_id"],
                    name=call["name"],
                    function=call["function"],
                    args=call.get("args") or {},
                    status="called",
                    content={"error": STOPPED_TOOL_NOTE},
                    stopped=True,
                    turn_id=call.get("turn_id"),
                ),
                # The worker's own `called` uses this key: a call ends once, whoever ends it.
                dedupe_key=f"turn:{call.get('turn_id')}:tool:{call['tool_call_id']}:called",
            )
    for (step_turn, step_id), step in steps.items():
        if step["status"] == "running":
            event_publish(
                session_id,
                StepEvent(
                    id=step_id,
                    description=step["description"],
                    status="cancelled",
                    result=STOPPED_TOOL_NOTE,
                    turn_id=step_turn,
                ),
                dedupe_key=f"turn:{step_turn}:step:{step_id}:cancelled",
            )
    if plan is not None:
        open_states = ("running", "pending") if plan_too else ("running",)
        items = [PlanStep.model_validate(s) for s in plan["steps"]]
        if any(s.status in open_states for s in items):
            for item in items:
                if item.status in open_states:
                    item.status = "cancelled"
            event_publish(session_id, PlanEvent(steps=items, turn_id=plan.get("turn_id")))
