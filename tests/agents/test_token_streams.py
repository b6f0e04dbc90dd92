"""Coalesced token streams: frames instead of one event per token, and readers that come and
go mid-answer see the whole text once. Real Redis, the Mongo-compatible server, the scripted model."""

import asyncio
import random
import time
from typing import Any

import pytest

from agents.services import chat_send, turn_run
from agents.streaming import TokenStream
from sessions import eventlog
from sessions.events import MessageDeltaEvent
from sessions.publisher import event_publish
from sessions.services import session_create
from sessions.streams import session_events
from tests.support.llm_server import ScriptedLLM, text

pytestmark = pytest.mark.django_db(transaction=True)


def deltas(session_id: str) -> list[str]:
    return [e["delta"] for e in eventlog.events_after(session_id, 0) if e["type"] == "message_delta"]


def stream_into(session_id: str, **kwargs: Any) -> TokenStream:
    return TokenStream(lambda event: event_publish(session_id, event), **kwargs)


def test_the_first_token_goes_out_at_once_and_the_rest_in_frames_of_at_most_n_chars(alice: Any) -> None:
    session_id = session_create(owner_id=alice.pk, mode="lite").id
    tokens = stream_into(session_id, flush_ms=60_000, flush_chars=10)

    tokens.add("He")
    assert deltas(session_id) == ["He"]  # before any other token arrives

    tokens.add("l")
    tokens.add("lo wor")
    assert deltas(session_id) == ["He"]  # 7 chars buffered, under the frame size
    tokens.add("ld!!!")
    assert deltas(session_id) == ["He", "llo world!!!"]

    tokens.add("?")
    tokens.close()
    tokens.add("ignored after close")
    assert deltas(session_id) == ["He", "llo world!!!", "?"]


def test_a_model_that_pauses_still_gets_its_buffered_text_out(alice: Any) -> None:
    session_id = session_create(owner_id=alice.pk, mode="lite").id
    tokens = stream_into(session_id, flush_ms=50, flush_chars=1000)

    tokens.add("a")
    tokens.add("b")  # buffered; no further token comes
    deadline = time.monotonic() + 10
    while deltas(session_id) != ["a", "b"] and time.monotonic() < deadline:
        time.sleep(0.02)

    assert deltas(session_id) == ["a", "b"]
    tokens.close()
    assert deltas(session_id) == ["a", "b"]


async def test_a_reader_reconnecting_100_times_mid_answer_sees_every_character_once(
    alice: Any, llm: ScriptedLLM
) -> None:
    # ~5,000 chars, ~1,700 tokens over ~14 s: long enough for 100 reconnects on a busy CI machine.
    answer = "".join(f"{i} lorem ipsum dolor. " for i in range(250))
    chunks = (len(answer) + 2) // 3
    llm.push(text(answer, chunk_size=3, delay_per_chunk=0.008))
    session = await asyncio.to_thread(session_create, owner_id=alice.pk, mode="lite")
    turn = await asyncio.to_thread(chat_send, session_id=session.id, message="Recite")
    worker = asyncio.create_task(asyncio.to_thread(turn_run, turn_id=str(turn.id)))

    rng = random.Random(13)
    received: list[dict[str, Any]] = []
    reconnects = 0
    answered = False
    while not answered:
        stream = session_events(session.id, received[-1]["seq"] if received else 0)
        try:
            async with asyncio.timeout(rng.uniform(0.005, 0.05)):
                async for event in stream:  # type: ignore[union-attr]
                    received.append(event)
                    if event["type"] == "message" and event["role"] == "assistant":
                        answered = True
                        break
        except TimeoutError:
            reconnects += 1
        finally:
            await stream.aclose()
    assert await worker == "completed"

    seqs = [e["seq"] for e in received]
    assert seqs == sorted(set(seqs))  # nothing twice, nothing out of order
    streamed = "".join(e["delta"] for e in received if e["type"] == "message_delta")
    assert streamed == answer
    assert received[-1]["content"] == answer
    assert reconnects >= 100, reconnects
    stored = await asyncio.to_thread(deltas, session.id)
    assert "".join(stored) == answer
    assert len(stored) < chunks // 2  # frames, not one stored event per token


def test_the_stream_publishes_through_the_given_callable_as_message_deltas(alice: Any) -> None:
    published: list[MessageDeltaEvent] = []
    tokens = TokenStream(published.append, flush_ms=60_000, flush_chars=4)

    tokens.add("one")
    tokens.add("two")
    tokens.add("three")
    tokens.close()

    assert [e.delta for e in published] == ["one", "twothree"]
