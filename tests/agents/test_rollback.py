"""multitask_strategy=rollback: the running turn stops, and its events and agent memory since it
started are discarded before the new turn starts. The log keeps one `rollback` event; replay,
`GET /sessions/{id}` and the new turn's model never see the discarded turn again.
Real Redis, database, Mongo-compatible event log and tool API; the model is scripted."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.memory import memory_load
from agents.models import Turn, TurnStatus
from agents.services import chat_send, turn_run
from anker_project.mongo import get_db
from sessions import eventlog
from sessions.models import Session
from sessions.streams import session_events
from tests.agents.conftest import ToolApiServer
from tests.agents.helpers import events, new_agent_session, timeline
from tests.agents.test_agent_turn import call, plan
from tests.support.llm_server import ScriptedLLM, slow

pytestmark = pytest.mark.django_db(transaction=True)


def done(result: str, call_id: str = "call_done") -> Any:
    return call("complete_step", {"success": True, "result": result}, call_id)


def deliver(message: str) -> Any:
    return call("deliver_result", {"message": message}, "call_result")


def stored_seqs(session_id: str, *, discarded: bool) -> list[int]:
    query = {"session_id": session_id, "discarded": True} if discarded else {"session_id": session_id}
    docs = get_db().events.find(query, {"seq": 1, "discarded": 1})
    return sorted(d["seq"] for d in docs if discarded or not d.get("discarded"))


def read_stream(session_id: str, until_turn: str) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        async with asyncio.timeout(10):
            async for event in session_events(session_id, 0, until_turn=until_turn):
                assert isinstance(event, dict)
                out.append(event)
        return out

    return asyncio.run(collect())


def test_rollback_discards_the_running_turns_events_and_memory_and_the_next_turn_starts_from_before_it(
    alice: Any, alice_client: APIClient, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    # Given a session whose first task is done, and a second task running
    session = new_agent_session(alice)
    llm.push(plan("Count to three"), done("1..3"), deliver("Counted to three."))
    first = chat_send(session_id=session.id, message="Count to three")
    assert first is not None and turn_run(turn_id=str(first.id)) == "completed"
    memory_before = memory_load(session_id=session.id).model_dump()
    lines_before = timeline(session.id)
    requests_before = len(llm.requests)

    llm.push(plan("Count to a million", title="A million"), slow(done("1..1000000"), 30))
    second = chat_send(session_id=session.id, message="Now count to a million")
    assert second is not None
    worker = threading.Thread(target=lambda: turn_run(turn_id=str(second.id)))
    worker.start()
    llm.wait_for_requests(requests_before + 2, timeout=10)  # planned, and inside its first step
    assert memory_load(session_id=session.id).plan.title == "A million"  # type: ignore[union-attr]

    # When a third message arrives with multitask_strategy=rollback
    llm.push(plan("Count to ten"), done("1..10"), deliver("Counted to ten."))
    session.refresh_from_db()  # as the API reads it: running
    third = chat_send(session_id=session.id, message="Only to ten, please", multitask_strategy="rollback")
    assert third is not None
    worker.join(timeout=15)
    assert not worker.is_alive()

    # Then the second turn is cancelled, its memory is as it was before it, and the log keeps
    # the first task, the third message and one rollback event
    second.refresh_from_db()
    assert second.status == TurnStatus.CANCELLED
    assert memory_load(session_id=session.id).model_dump() == memory_before
    assert timeline(session.id) == [*lines_before, ("message", "user", "Only to ten, please", []),
                                    ("status", "running"), ("rollback",)]  # fmt: skip
    [rollback] = events(session.id, "rollback")
    assert rollback["turn_ids"] == [str(second.id)] and rollback["turn_id"] == str(second.id)
    assert rollback["from_seq"] == second.message_seq and rollback["to_seq"] == rollback["seq"] - 1
    # Every seq the second turn had is still stored (never reused) but marked discarded.
    discarded = stored_seqs(session.id, discarded=True)
    kept_third = {third.message_seq, third.message_seq + 1}  # its message and `running`
    assert discarded == [s for s in range(second.message_seq, rollback["seq"]) if s not in kept_third]
    assert stored_seqs(session.id, discarded=False) == [e["seq"] for e in eventlog.events_after(session.id, 0)]
    assert not any(e.get("turn_id") == str(second.id) for e in eventlog.events_after(session.id, 0)
                   if e["type"] != "rollback")  # fmt: skip

    # A reader following the rolled-back turn ends at its rollback.
    followed = read_stream(session.id, str(second.id))
    assert followed[-1]["type"] == "rollback" and followed[-1]["seq"] == rollback["seq"]

    # GET /sessions/{id} shows no trace of it but the rollback.
    response = alice_client.get(f"/api/v1/sessions/{session.id}")
    assert response.status_code == 200
    history = response.json()["data"]["events"]
    assert [e["event"] for e in history if e["data"].get("turn_id") == str(second.id)] == ["rollback"]
    assert "million" not in json.dumps(history)
    session.refresh_from_db()
    assert session.latest_message == "Only to ten, please"

    # The third turn starts from the memory before the second: the model never hears of a million.
    assert turn_run(turn_id=str(third.id)) == "completed"
    assert "million" not in json.dumps(llm.requests[requests_before + 2 :])
    assert timeline(session.id)[-3:] == [("message", "assistant", "Counted to ten.", []), ("status", "completed"),
                                         ("done",)]  # fmt: skip


def test_rollback_of_a_queued_turn_discards_its_message_at_once(alice: Any, llm: ScriptedLLM) -> None:
    session = Session.objects.create(owner=alice, mode="lite")
    first = chat_send(session_id=session.id, message="first")
    assert first is not None

    session.refresh_from_db()  # as the API reads it: running

    second = chat_send(session_id=session.id, message="second", multitask_strategy="rollback")

    assert second is not None
    first.refresh_from_db()
    assert first.status == TurnStatus.CANCELLED
    kept = [(e["type"], e.get("content") or e.get("status")) for e in eventlog.events_after(session.id, 0)]
    # The session says `running` again: the `running` it said before was the discarded turn's.
    assert kept == [("rollback", None), ("message", "second"), ("status", "running")]
    [rollback] = events(session.id, "rollback")
    assert rollback["turn_ids"] == [str(first.id)] and rollback["turn_id"] is None
    assert (rollback["from_seq"], rollback["to_seq"]) == (first.message_seq, 2) == (1, 2)
    assert Turn.objects.get(pk=second.pk).status == TurnStatus.QUEUED
