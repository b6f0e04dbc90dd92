"""Lite-mode turns run in-process through `turn_run`, against real Redis, the Mongo-compatible
server and the scripted OpenAI-compatible model (driven through the real `openai` client)."""

import base64
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from agents.control import session_turn_lock, turn_stop_request
from agents.models import Turn
from agents.services import SessionBusyError, chat_send, turn_run, turn_stop, turns_watchdog
from anker_project.redis_client import get_redis
from sessions import eventlog
from sessions.models import Session
from sessions.services import session_create
from tests.support.llm_server import ScriptedLLM, error, slow, text

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def empty_turn_queue() -> Iterator[None]:
    get_redis().delete("turns")
    yield
    get_redis().delete("turns")


def queued_turns() -> list[tuple[str, str]]:
    """(turn_id, session_id) of every run_turn message waiting in the broker's `turns` queue."""
    out = []
    for raw in get_redis().lrange("turns", 0, -1):
        message = json.loads(raw)
        assert message["headers"]["task"] == "agents.run_turn"
        _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        out.append((kwargs["turn_id"], kwargs["session_id"]))
    return out


def new_session(owner: Any) -> Session:
    return session_create(owner_id=owner.pk, mode="lite")


def kinds(session_id: str) -> list[str]:
    return [e["type"] for e in eventlog.events_after(session_id, 0)]


def without_deltas(session_id: str) -> list[tuple[str, Any]]:
    out = []
    for e in eventlog.events_after(session_id, 0):
        if e["type"] == "message_delta":
            continue
        detail = e.get("content") or e.get("title") or e.get("status") or e.get("error")
        out.append((e["type"], detail))
    return out


def test_a_streamed_reply_becomes_deltas_then_the_final_message(alice: Any, llm: ScriptedLLM) -> None:
    answer = "Hello Alice! " * 20
    llm.push(text(answer, chunk_size=5, usage=(42, 17)))
    session = new_session(alice)
    turn = chat_send(session_id=session.id, message="Say hello\nplease")
    assert queued_turns() == [(str(turn.id), session.id)]  # run_turn was enqueued on commit

    outcome = turn_run(turn_id=str(turn.id))

    assert outcome == "completed"
    assert without_deltas(session.id) == [
        ("message", "Say hello\nplease"),
        ("status", "running"),
        ("title", "Say hello"),
        ("message", answer),
        ("status", "completed"),
        ("done", None),
    ]
    events = eventlog.events_after(session.id, 0)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["turn_id"] == str(turn.id) for e in events)
    deltas = [e["delta"] for e in events if e["type"] == "message_delta"]
    assert "".join(deltas) == answer
    assert len(deltas) >= 2
    turn.refresh_from_db()
    assert (turn.status, turn.prompt_tokens, turn.completion_tokens, turn.error) == ("completed", 42, 17, "")
    session.refresh_from_db()
    assert (session.status, session.title, session.latest_message) == ("completed", "Say hello", answer[:500])
    sent = llm.requests[0]
    assert sent["model"] == "scripted-model"
    assert sent["stream"] is True
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert sent["messages"][1]["content"] == "Say hello\nplease"


def test_the_second_turn_sends_the_conversation_so_far(alice: Any, llm: ScriptedLLM) -> None:
    llm.push(text("First answer"), text("Second answer"))
    session = new_session(alice)
    turn_run(turn_id=str(chat_send(session_id=session.id, message="one").id))
    session.refresh_from_db()

    turn_run(turn_id=str(chat_send(session_id=session.id, message="two").id))

    second = llm.requests[1]["messages"]
    assert [(m["role"], m["content"]) for m in second[1:]] == [
        ("user", "one"),
        ("assistant", "First answer"),
        ("user", "two"),
    ]
    assert kinds(session.id).count("title") == 1


def test_a_refused_key_ends_the_turn_with_an_error_that_says_what_to_fix(alice: Any, llm: ScriptedLLM) -> None:
    llm.push(error(401))
    session = new_session(alice)
    turn = chat_send(session_id=session.id, message="hi")

    assert turn_run(turn_id=str(turn.id)) == "failed"

    errors = [e["error"] for e in eventlog.events_after(session.id, 0) if e["type"] == "error"]
    assert errors == [
        "The model provider rejected the API key (HTTP 401: Incorrect API key provided.). "
        "Check API_KEY (or OPENAI_API_KEY / OPENROUTER_API_KEY) in .env and restart Anker."
    ]
    assert kinds(session.id)[-2:] == ["status", "error"]
    turn.refresh_from_db()
    session.refresh_from_db()
    assert (turn.status, turn.error, session.status) == ("failed", errors[0], "failed")
    assert len(llm.requests) == 1  # a refusal is not retried


def test_a_server_error_is_retried_and_the_reply_arrives_once(alice: Any, llm: ScriptedLLM) -> None:
    llm.push(error(500), text("Recovered"))
    session = new_session(alice)
    turn = chat_send(session_id=session.id, message="hi")

    assert turn_run(turn_id=str(turn.id)) == "completed"

    assert len(llm.requests) == 2
    finals = [e["content"] for e in eventlog.events_after(session.id, 0) if e["type"] == "message"]
    assert finals == ["hi", "Recovered"]


def test_a_provider_that_keeps_failing_ends_the_turn_with_an_explanation(
    alice: Any, llm: ScriptedLLM, settings: Any
) -> None:
    settings.LLM_MAX_RETRIES = 2
    llm.set_default(error(503))
    session = new_session(alice)
    turn = chat_send(session_id=session.id, message="hi")

    assert turn_run(turn_id=str(turn.id)) == "failed"

    turn.refresh_from_db()
    assert turn.error == (
        "The model provider is unavailable (HTTP 503: The engine is currently overloaded, please try again later.) "
        "after 3 attempt(s). Try again later."
    )
    assert len(llm.requests) == 3


def test_a_missing_key_tells_the_user_which_variable_to_set(alice: Any, llm: ScriptedLLM, settings: Any) -> None:
    settings.LLM_PROVIDER = "openai"
    settings.API_KEY = ""
    settings.OPENAI_API_KEY = ""
    session = new_session(alice)
    turn = chat_send(session_id=session.id, message="hi")

    assert turn_run(turn_id=str(turn.id)) == "failed"

    turn.refresh_from_db()
    assert turn.error == (
        "No API key is configured for the model provider 'openai'. "
        "Set API_KEY (or OPENAI_API_KEY) in .env and restart Anker."
    )
    assert llm.requests == []


def test_stop_ends_a_turn_while_the_model_has_not_answered_yet(alice: Any, llm: ScriptedLLM) -> None:
    llm.push(slow(text("too late"), 30.0))
    session = new_session(alice)
    turn = chat_send(session_id=session.id, message="think hard")
    result: dict[str, str] = {}
    runner = threading.Thread(target=lambda: result.update(outcome=turn_run(turn_id=str(turn.id))))
    runner.start()
    llm.wait_for_requests(1, timeout=10)

    turn_stop(session_id=session.id)
    runner.join(timeout=10)

    assert not runner.is_alive()  # ended at the stop, 20 s before the model would have answered
    assert len(llm.requests) == 1  # and the model was not asked again
    assert result["outcome"] == "cancelled"
    assert without_deltas(session.id)[-2:] == [("status", "stopped"), ("done", None)]
    assert "too late" not in str(eventlog.events_after(session.id, 0))
    assert [e["role"] for e in eventlog.events_after(session.id, 0) if e["type"] == "message"] == ["user"]
    turn.refresh_from_db()
    assert turn.status == "cancelled"
    assert Session.objects.get(pk=session.id).status == "stopped"


def test_stop_mid_stream_stores_what_was_streamed_as_the_final_message_marked_cut_short(
    alice: Any, llm: ScriptedLLM
) -> None:
    llm.push(text("word " * 400, chunk_size=5, delay_per_chunk=0.02))
    session = new_session(alice)
    turn = chat_send(session_id=session.id, message="long answer please")
    runner = threading.Thread(target=turn_run, kwargs={"turn_id": str(turn.id)})
    runner.start()
    deadline = time.monotonic() + 10
    while "message_delta" not in kinds(session.id):
        assert time.monotonic() < deadline
        time.sleep(0.02)

    turn_stop(session_id=session.id)
    runner.join(timeout=10)

    assert not runner.is_alive()
    stored = eventlog.events_after(session.id, 0)
    streamed = "".join(e["delta"] for e in stored if e["type"] == "message_delta")
    assert streamed and streamed != "word " * 400
    messages = [(e["role"], e["content"], e["cut_short"]) for e in stored if e["type"] == "message"]
    assert messages == [("user", "long answer please", False), ("assistant", streamed, True)]
    assert [e["type"] for e in stored][-3:] == ["message", "status", "done"]
    assert stored[-2]["status"] == "stopped"
    row = Session.objects.get(pk=session.id)
    assert (row.status, row.latest_message) == ("stopped", streamed[:500])


def test_a_stop_before_the_worker_starts_cancels_the_queued_turn(alice: Any, llm: ScriptedLLM) -> None:
    session = new_session(alice)
    turn = chat_send(session_id=session.id, message="hi")

    turn_stop(session_id=session.id)

    assert turn_run(turn_id=str(turn.id)) == "skipped"
    turn.refresh_from_db()
    assert turn.status == "cancelled"
    assert without_deltas(session.id) == [
        ("message", "hi"),
        ("status", "running"),
        ("done", None),
        ("status", "stopped"),
    ]
    assert llm.requests == []


def test_running_a_finished_turn_again_is_a_no_op(alice: Any, llm: ScriptedLLM) -> None:
    llm.push(text("only once"))
    session = new_session(alice)
    turn = chat_send(session_id=session.id, message="hi")
    turn_run(turn_id=str(turn.id))
    before = eventlog.events_after(session.id, 0)

    assert turn_run(turn_id=str(turn.id)) == "skipped"

    assert eventlog.events_after(session.id, 0) == before
    assert len(llm.requests) == 1


def test_a_second_turn_waits_while_the_session_lock_is_held(alice: Any, llm: ScriptedLLM) -> None:
    session = new_session(alice)
    turn = chat_send(session_id=session.id, message="hi")
    lock = session_turn_lock(session.id)
    assert lock.acquire(blocking=False)
    try:
        with pytest.raises(SessionBusyError):
            turn_run(turn_id=str(turn.id))
    finally:
        lock.release()
    turn.refresh_from_db()
    assert turn.status == "queued"
    assert llm.requests == []


def test_a_turn_whose_worker_died_is_resumed_without_a_second_answer(alice: Any, llm: ScriptedLLM) -> None:
    llm.push(text("the answer"))
    session = new_session(alice)
    turn = chat_send(session_id=session.id, message="hi")
    # The first worker claimed the turn and published the answer, then died before the end.
    Turn.objects.filter(pk=turn.pk).update(status="running", heartbeat_at=timezone.now() - timedelta(minutes=5))
    from agents.runtime import TurnContext
    from sessions.events import MessageEvent

    ctx = TurnContext(str(turn.id), session.id, "lite", "hi", turn.message_seq, needs_title=False)
    ctx.publish(MessageEvent(role="assistant", content="the answer"), dedupe_key=f"turn:{turn.id}:answer")

    assert turn_run(turn_id=str(turn.id)) == "completed"

    finals = [e["content"] for e in eventlog.events_after(session.id, 0) if e["type"] == "message"]
    assert finals == ["hi", "the answer"]
    turn.refresh_from_db()
    assert (turn.status, turn.resume_count) == ("completed", 1)


def test_the_watchdog_cancels_a_dead_turn_that_was_asked_to_stop(alice: Any) -> None:
    session = new_session(alice)
    turn = chat_send(session_id=session.id, message="hi")
    Turn.objects.filter(pk=turn.pk).update(status="running", heartbeat_at=timezone.now() - timedelta(minutes=5))
    turn_stop_request(str(turn.id), "stop")

    assert turns_watchdog() == {"cancelled": 1, "resumed": 0, "failed": 0}

    turn.refresh_from_db()
    assert turn.status == "cancelled"
    assert kinds(session.id)[-1] == "done"


def test_the_watchdog_fails_a_turn_that_died_too_often_and_says_why(alice: Any, settings: Any) -> None:
    settings.TURN_MAX_RESUMES = 1
    session = new_session(alice)
    turn = chat_send(session_id=session.id, message="hi")
    Turn.objects.filter(pk=turn.pk).update(
        status="running", resume_count=1, heartbeat_at=timezone.now() - timedelta(minutes=5)
    )

    assert turns_watchdog() == {"cancelled": 0, "resumed": 0, "failed": 1}

    turn.refresh_from_db()
    assert turn.status == "failed"
    assert turn.error.startswith("The worker running this turn stopped responding 2 times")
    assert eventlog.events_after(session.id, 0)[-1]["error"] == turn.error


def test_the_watchdog_leaves_a_slow_turn_that_still_holds_its_lock(alice: Any) -> None:
    session = new_session(alice)
    turn = chat_send(session_id=session.id, message="hi")
    Turn.objects.filter(pk=turn.pk).update(status="running", heartbeat_at=timezone.now() - timedelta(minutes=5))
    lock = session_turn_lock(session.id)
    lock.acquire(blocking=False)
    try:
        assert turns_watchdog() == {"cancelled": 0, "resumed": 0, "failed": 0}
    finally:
        lock.release()
    turn.refresh_from_db()
    assert turn.status == "running"


def test_a_new_message_cancels_a_queued_turn_and_queues_its_own(alice: Any, llm: ScriptedLLM) -> None:
    llm.push(text("answer to the second"))
    session = new_session(alice)
    first = chat_send(session_id=session.id, message="first")

    second = chat_send(session_id=session.id, message="second")
    turn_run(turn_id=str(first.id))
    turn_run(turn_id=str(second.id))

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("cancelled", "completed")
    finals = [e["content"] for e in eventlog.events_after(session.id, 0) if e["type"] == "message"]
    assert finals == ["first", "second", "answer to the second"]
    assert [m["content"] for m in llm.requests[0]["messages"][1:]] == ["first", "second"]


def test_retry_after_an_error_answers_the_same_message_and_keeps_the_error_in_the_history(
    alice: Any, alice_client: Any, llm: ScriptedLLM
) -> None:
    llm.push(error(401))
    session = new_session(alice)
    failed = chat_send(session_id=session.id, message="Say hello")
    assert turn_run(turn_id=str(failed.id)) == "failed"
    llm.push(text("Hello!"))

    response = alice_client.post(f"/api/v1/sessions/{session.id}/retry")

    assert response.status_code == 200
    retried = Turn.objects.get(pk=response.json()["data"]["turn_id"])
    assert (retried.message, retried.message_seq, retried.status) == ("Say hello", failed.message_seq, "queued")
    assert turn_run(turn_id=str(retried.id)) == "completed"
    history = without_deltas(session.id)
    assert [kind for kind, _ in history] == [
        "message", "status", "title", "status", "error", "status", "message", "status", "done",
    ]  # fmt: skip
    assert history[-3:] == [("message", "Hello!"), ("status", "completed"), ("done", None)]
    # The model saw the conversation up to the retried message, once.
    assert [m["content"] for m in llm.requests[-1]["messages"] if m["role"] == "user"] == ["Say hello"]
    assert Session.objects.get(pk=session.id).status == "completed"


def test_regenerate_gives_another_answer_to_the_last_message_and_keeps_the_first(
    alice: Any, alice_client: Any, llm: ScriptedLLM
) -> None:
    llm.push(text("First answer"), text("Second answer"))
    session = new_session(alice)
    first = chat_send(session_id=session.id, message="Name a colour")
    turn_run(turn_id=str(first.id))

    retried = alice_client.post(f"/api/v1/sessions/{session.id}/retry").json()["data"]["turn_id"]
    turn_run(turn_id=retried)

    answers = [e["content"] for e in eventlog.events_after(session.id, 0) if e["type"] == "message"]
    assert answers == ["Name a colour", "First answer", "Second answer"]
    assert [m["role"] for m in llm.requests[-1]["messages"]] == ["system", "user"]


def test_retry_is_refused_while_a_turn_is_queued_and_for_a_foreign_session(
    alice: Any, alice_client: Any, bob_client: Any
) -> None:
    session = new_session(alice)
    assert alice_client.post(f"/api/v1/sessions/{session.id}/retry").json() == {
        "code": 409, "msg": "There is no message to retry yet: send one.", "data": None,
    }  # fmt: skip
    chat_send(session_id=session.id, message="hi")

    busy = alice_client.post(f"/api/v1/sessions/{session.id}/retry")
    foreign = bob_client.post(f"/api/v1/sessions/{session.id}/retry")

    assert busy.status_code == 409
    assert busy.json()["msg"] == "The last message is still being answered: stop it first, or wait for its end."
    assert foreign.status_code == 404
    assert Turn.objects.filter(session=session).count() == 1
