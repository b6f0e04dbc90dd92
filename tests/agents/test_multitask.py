"""Double-texting: 20 messages sent at once to one session follow `multitask_strategy` exactly
(reject, interrupt, enqueue, rollback), through the chat API against real Redis, the database and the
Mongo-compatible event log. Turns run through `turn_run` like a worker would."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection

from agents.control import turn_stop_reason
from agents.models import Turn, TurnStatus
from agents.services import SessionBusyError, chat_send, turn_run
from sessions import eventlog
from sessions.models import Session
from tests.conftest import client_for
from tests.support.llm_server import ScriptedLLM, text

pytestmark = pytest.mark.django_db(transaction=True)

N = 20


def send_at_once(user: Any, session_id: str, strategy: str) -> list[tuple[int, dict[str, Any] | None, str]]:
    """N chat requests released together; each answers (status, envelope if JSON, message sent)."""
    barrier = threading.Barrier(N)

    def post(i: int) -> tuple[int, dict[str, Any] | None, str]:
        client = client_for(user)
        message = f"message {i}"
        barrier.wait()
        try:
            response = client.post(
                f"/api/v1/sessions/{session_id}/chat",
                {"message": message, "multitask_strategy": strategy},
                format="json",
            )
            body = response.json() if response["Content-Type"] == "application/json" else None
            if hasattr(response, "close"):
                response.close()
            return response.status_code, body, message
        finally:
            connection.close()

    with ThreadPoolExecutor(N) as pool:
        return list(pool.map(post, range(N)))


def lite_session(alice: Any) -> Session:
    return Session.objects.create(owner=alice, mode="lite")


def user_messages(session_id: str) -> list[str]:
    return [
        e["content"] for e in eventlog.events_after(session_id, 0) if e["type"] == "message" and e["role"] == "user"
    ]


BUSY = {
    "code": 409,
    "msg": "The session is still answering a message (multitask_strategy=reject): "
    "wait for its end, or send with interrupt or enqueue.",
    "data": None,
}


def test_reject_on_an_idle_session_accepts_exactly_one_of_20_racing_messages(alice: Any) -> None:
    session = lite_session(alice)

    results = send_at_once(alice, session.id, "reject")

    accepted = [message for status, _, message in results if status == 200]
    refused = [body for status, body, _ in results if status == 409]
    assert len(accepted) == 1 and len(refused) == N - 1
    assert all(body == BUSY for body in refused)
    turn = Turn.objects.get(session=session)
    assert (turn.message, turn.status) == (accepted[0], TurnStatus.QUEUED)
    assert user_messages(session.id) == accepted


def test_reject_on_a_busy_session_refuses_all_20_and_changes_nothing(alice: Any) -> None:
    session = lite_session(alice)
    running = chat_send(session_id=session.id, message="first")
    assert running is not None
    seq_before = eventlog.last_seq(session.id)

    results = send_at_once(alice, session.id, "reject")

    assert [status for status, _, _ in results] == [409] * N
    assert all(body == BUSY for _, body, _ in results)
    assert list(Turn.objects.filter(session=session).values_list("id", "status")) == [(running.id, TurnStatus.QUEUED)]
    assert turn_stop_reason(str(running.id)) is None
    assert eventlog.last_seq(session.id) == seq_before


def test_interrupt_leaves_exactly_one_active_turn_after_20_racing_messages(alice: Any) -> None:
    session = lite_session(alice)
    chat_send(session_id=session.id, message="first")

    results = send_at_once(alice, session.id, "interrupt")

    assert [status for status, _, _ in results] == [200] * N
    active = list(Turn.objects.filter(session=session, status__in=(TurnStatus.QUEUED, TurnStatus.RUNNING)))
    assert len(active) == 1
    newest = Turn.objects.filter(session=session).order_by("-created_at").first()
    assert newest is not None and active[0].id == newest.id
    assert Turn.objects.filter(session=session, status=TurnStatus.CANCELLED).count() == N
    assert len(user_messages(session.id)) == N + 1  # every message is kept in the history


def test_enqueue_queues_all_20_racing_messages_and_runs_them_in_the_order_sent(alice: Any, llm: ScriptedLLM) -> None:
    llm.set_default(text("ok"))
    session = lite_session(alice)
    first = chat_send(session_id=session.id, message="first")
    assert first is not None

    results = send_at_once(alice, session.id, "enqueue")

    assert [status for status, _, _ in results] == [200] * N
    turns = list(Turn.objects.filter(session=session).order_by("created_at"))
    assert len(turns) == N + 1
    assert all(t.status == TurnStatus.QUEUED for t in turns)
    assert turn_stop_reason(str(first.id)) is None
    # The order they were accepted in is the order of their messages in the log.
    assert [t.message for t in turns] == user_messages(session.id)

    # A later one asked to run first (a worker picked its task early) waits for the ones ahead.
    with pytest.raises(SessionBusyError):
        turn_run(turn_id=str(turns[-1].id))
    assert Turn.objects.get(pk=turns[-1].pk).status == TurnStatus.QUEUED

    for turn in turns:
        assert turn_run(turn_id=str(turn.id)) == "completed"
    finished = list(Turn.objects.filter(session=session).order_by("started_at").values_list("message", "status"))
    assert finished == [(t.message, TurnStatus.COMPLETED) for t in turns]


def test_an_unknown_strategy_is_a_422_naming_the_field_and_nothing_is_sent(alice: Any, alice_client: Any) -> None:
    session = lite_session(alice)

    response = alice_client.post(
        f"/api/v1/sessions/{session.id}/chat", {"message": "hi", "multitask_strategy": "later"}, format="json"
    )

    assert response.status_code == 422
    assert response.json() == {
        "code": 422,
        "msg": 'multitask_strategy: "later" is not a valid choice.',
        "data": {"errors": {"multitask_strategy": ['"later" is not a valid choice.']}},
    }
    assert Turn.objects.filter(session=session).count() == 0
    assert eventlog.last_seq(session.id) == 0


def test_an_enqueued_message_is_answered_as_queued_in_the_response_headers(alice: Any, alice_client: Any) -> None:
    session = lite_session(alice)
    chat_send(session_id=session.id, message="first")

    response = alice_client.post(
        f"/api/v1/sessions/{session.id}/chat", {"message": "second", "multitask_strategy": "enqueue"}, format="json"
    )

    assert response.status_code == 200
    second = Turn.objects.get(session=session, message="second")
    assert response["X-Anker-Turn-Id"] == str(second.id)
    assert response["X-Anker-Turn-Status"] == "queued"
    response.close()


def test_rollback_leaves_only_the_last_of_20_racing_messages_and_one_rollback_event_per_discarded_turn(
    alice: Any, llm: ScriptedLLM
) -> None:
    llm.set_default(text("ok"))
    session = lite_session(alice)
    first = chat_send(session_id=session.id, message="first")
    assert first is not None

    results = send_at_once(alice, session.id, "rollback")

    assert [status for status, _, _ in results] == [200] * N
    turns = list(Turn.objects.filter(session=session).order_by("created_at"))
    assert [t.status for t in turns] == [TurnStatus.CANCELLED] * N + [TurnStatus.QUEUED]
    last = turns[-1]
    # Each submission rolled back the one queued before it: the log keeps the last message and
    # one rollback event per discarded turn, nothing of the discarded turns themselves.
    assert user_messages(session.id) == [last.message]
    kept = eventlog.events_after(session.id, 0)
    rollbacks = [e for e in kept if e["type"] == "rollback"]
    assert [e["turn_ids"] for e in rollbacks] == [[str(t.id)] for t in turns[:-1]]
    discarded_ids = {str(t.id) for t in turns[:-1]}
    assert [e for e in kept if e["type"] != "rollback" and e.get("turn_id") in discarded_ids] == []

    assert turn_run(turn_id=str(last.id)) == "completed"
    conversation = llm.requests[-1]["messages"]
    assert [m["content"] for m in conversation if m["role"] == "user"] == [last.message]
