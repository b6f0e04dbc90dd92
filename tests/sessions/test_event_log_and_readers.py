"""The event log, the publisher and the one reader, against real Redis and the Mongo-compatible server."""

import asyncio
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from anker_project.mongo import get_db
from sessions import eventlog
from sessions.events import DoneEvent, MessageDeltaEvent, MessageEvent, StatusEvent
from sessions.live import event_send
from sessions.publisher import event_publish
from sessions.services import session_create
from sessions.streams import HEARTBEAT, session_events

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def session_id(alice: Any) -> str:
    return session_create(owner_id=alice.pk, mode="lite").id


def publish(session_id: str, content: str, **kwargs: Any) -> dict[str, Any]:
    return event_publish(session_id, MessageDeltaEvent(delta=content), **kwargs)


async def collect(stream: AsyncIterator[Any], count: int, timeout: float = 10.0) -> list[Any]:
    out: list[Any] = []

    async def run() -> None:
        async for item in stream:
            out.append(item)
            if len(out) == count:
                return

    await asyncio.wait_for(run(), timeout)
    return out


def test_seqs_are_strictly_increasing_and_event_id_is_the_seq(session_id: str) -> None:
    stored = [publish(session_id, f"d{i}") for i in range(5)]

    assert [e["seq"] for e in stored] == [1, 2, 3, 4, 5]
    assert [e["event_id"] for e in stored] == ["1", "2", "3", "4", "5"]
    assert eventlog.events_after(session_id, 2) == stored[2:]


def test_concurrent_publishers_get_unique_gapless_seqs(session_id: str) -> None:
    def work(n: int) -> None:
        for i in range(25):
            publish(session_id, f"{n}-{i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    events = eventlog.events_after(session_id, 0)
    assert [e["seq"] for e in events] == list(range(1, 101))
    assert sorted(e["delta"] for e in events) == sorted(f"{n}-{i}" for n in range(4) for i in range(25))


ROOT = Path(__file__).resolve().parents[2]


async def test_a_reader_gets_every_event_once_in_order_while_processes_publish_at_once(session_id: str) -> None:
    # Three processes publish to one session at once, each with its own view of the
    # session's head; their sends cross on the way to the reader.
    stream = session_events(session_id, 0)
    reader = asyncio.create_task(collect(stream, 90, timeout=120))
    await asyncio.sleep(0.3)

    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.sessions.publish_many", session_id, tag, "30", cwd=ROOT
        )
        for tag in ("a", "b", "c")
    ]
    assert [await p.wait() for p in procs] == [0, 0, 0]
    received = await reader
    await stream.aclose()

    assert [e["seq"] for e in received] == list(range(1, 91))
    assert received == await asyncio.to_thread(eventlog.events_after, session_id, 0)
    for tag in ("a", "b", "c"):
        assert [e["delta"] for e in received if e["delta"].startswith(tag)] == [f"{tag}-{i}" for i in range(30)]


def test_a_publisher_whose_seq_was_taken_by_another_process_takes_the_next(session_id: str) -> None:
    publish(session_id, "mine")  # this process now believes the head is 1
    # Another process's publisher stores seq 2 meanwhile.
    get_db().events.insert_one(
        {**MessageDeltaEvent(delta="theirs").model_dump(), "seq": 2, "event_id": "2", "session_id": session_id}
    )

    stored = publish(session_id, "mine again")

    assert stored["seq"] == 3
    assert [(e["seq"], e["delta"]) for e in eventlog.events_after(session_id, 0)] == [
        (1, "mine"),
        (2, "theirs"),
        (3, "mine again"),
    ]


def test_a_batch_with_a_taken_seq_and_a_known_dedupe_key_stores_the_rest_in_order(alice: Any) -> None:
    a, b, c = (session_create(owner_id=alice.pk, mode="lite").id for _ in range(3))
    publish(a, "a1")  # this process now believes a's head is 1
    get_db().events.insert_one(  # ... but another process stored a's seq 2 meanwhile
        {**MessageDeltaEvent(delta="theirs").model_dump(), "seq": 2, "event_id": "2", "session_id": a}
    )
    done_c = event_publish(c, DoneEvent(turn_id="t"), dedupe_key="end")
    batch = [
        eventlog._Pending(a, MessageDeltaEvent(delta="a2").model_dump(), None),
        eventlog._Pending(b, MessageDeltaEvent(delta="b1").model_dump(), None),
        eventlog._Pending(c, DoneEvent(turn_id="t").model_dump(), "end"),
        eventlog._Pending(a, MessageDeltaEvent(delta="a3").model_dump(), None),
        eventlog._Pending(b, MessageDeltaEvent(delta="b2").model_dump(), None),
    ]

    eventlog._store_batch(batch)

    assert [(p.stored["seq"], p.new) for p in batch] == [(3, True), (1, True), (1, False), (4, True), (2, True)]
    assert batch[2].stored == done_c
    assert [(e["seq"], e["delta"]) for e in eventlog.events_after(a, 0)] == [
        (1, "a1"),
        (2, "theirs"),
        (3, "a2"),
        (4, "a3"),
    ]
    assert [(e["seq"], e["delta"]) for e in eventlog.events_after(b, 0)] == [(1, "b1"), (2, "b2")]
    assert eventlog.events_after(c, 0) == [done_c]


def test_a_dedupe_key_stores_an_event_without_a_summary_once(session_id: str) -> None:
    first = event_publish(session_id, DoneEvent(turn_id="t1"), dedupe_key="turn:t1:end")
    again = event_publish(session_id, DoneEvent(turn_id="t1"), dedupe_key="turn:t1:end")
    after = publish(session_id, "next")

    assert again == first
    assert eventlog.events_after(session_id, 0) == [first, after]
    assert after["seq"] == 2  # the refused duplicate burnt no seq


def test_a_dedupe_key_stores_an_event_once(session_id: str) -> None:
    first = event_publish(session_id, MessageEvent(role="assistant", content="once"), dedupe_key="k1")
    again = event_publish(session_id, MessageEvent(role="assistant", content="once"), dedupe_key="k1")

    assert again == first
    assert eventlog.events_after(session_id, 0) == [first]
    assert eventlog.last_seq(session_id) == 1  # no seq was burnt


async def test_a_reader_replays_after_its_seq_then_goes_live(session_id: str) -> None:
    for i in range(3):
        await asyncio.to_thread(publish, session_id, f"old{i}")
    stream = session_events(session_id, 1)

    replayed = await collect(stream, 2)
    live_task = asyncio.create_task(collect(stream, 1))
    await asyncio.sleep(0.2)
    await asyncio.to_thread(publish, session_id, "new")
    live = await live_task
    await stream.aclose()

    assert [(e["seq"], e["delta"]) for e in replayed] == [(2, "old1"), (3, "old2")]
    assert [(e["seq"], e["delta"]) for e in live] == [(4, "new")]


async def test_a_reader_drops_duplicates_and_fills_gaps_from_the_log(session_id: str) -> None:
    stream = session_events(session_id, 0)
    reader = asyncio.create_task(collect(stream, 3))
    await asyncio.sleep(0.3)

    first = await asyncio.to_thread(publish, session_id, "one")
    # The same event sent again (a retried publish) and an event stored but never sent
    # (a message the channel layer dropped) before the next live one.
    await asyncio.to_thread(event_send, session_id, first)
    await asyncio.to_thread(eventlog.event_append, session_id, MessageDeltaEvent(delta="two").model_dump())
    await asyncio.to_thread(publish, session_id, "three")
    received = await reader
    await stream.aclose()

    assert [(e["seq"], e["delta"]) for e in received] == [(1, "one"), (2, "two"), (3, "three")]


async def test_a_quiet_reader_finds_an_event_that_was_never_sent(session_id: str) -> None:
    stream = session_events(session_id, 0)
    reader = asyncio.create_task(collect(stream, 1))
    await asyncio.sleep(0.2)

    await asyncio.to_thread(eventlog.event_append, session_id, MessageDeltaEvent(delta="silent").model_dump())
    received = await reader
    await stream.aclose()

    assert [e["delta"] for e in received] == ["silent"]


async def test_a_turn_scoped_reader_ends_after_its_turns_terminal_event(session_id: str) -> None:
    await asyncio.to_thread(event_publish, session_id, StatusEvent(status="running", turn_id="t1"))
    await asyncio.to_thread(event_publish, session_id, DoneEvent(turn_id="t0"))  # another turn's end
    await asyncio.to_thread(event_publish, session_id, DoneEvent(turn_id="t1"))
    await asyncio.to_thread(publish, session_id, "after")

    received = [e async for e in session_events(session_id, 0, until_turn="t1")]

    assert [(e["type"], e["turn_id"]) for e in received] == [("status", "t1"), ("done", "t0"), ("done", "t1")]


async def test_an_idle_reader_yields_heartbeats(session_id: str) -> None:
    stream = session_events(session_id, 0, heartbeat_seconds=0.3)

    items = await collect(stream, 2, timeout=5)
    await stream.aclose()

    assert items == [HEARTBEAT, HEARTBEAT]


async def test_two_readers_see_the_same_sequence(session_id: str) -> None:
    a, b = session_events(session_id, 0), session_events(session_id, 0)
    ra, rb = asyncio.create_task(collect(a, 20)), asyncio.create_task(collect(b, 20))
    await asyncio.sleep(0.3)

    for i in range(20):
        await asyncio.to_thread(publish, session_id, str(i))
    seen_a, seen_b = await ra, await rb
    await a.aclose()
    await b.aclose()

    assert [e["seq"] for e in seen_a] == list(range(1, 21))
    assert seen_a == seen_b


async def test_a_reader_whose_deadline_passes_while_it_subscribes_always_stops(session_id: str) -> None:
    # A reader's task is cancelled (its client went away, its deadline passed) at any moment,
    # including just as its subscription is being sent to Redis: it must stop every time, not
    # keep streaming. redis-py's sends could swallow that cancellation on Python 3.11.
    async def read_until(deadline: float) -> None:
        stream = session_events(session_id, 0)
        try:
            async with asyncio.timeout(deadline):
                await anext(stream)  # nothing is published: only the deadline ends this
        finally:
            await stream.aclose()

    for attempt in range(300):
        reader = asyncio.create_task(read_until(0.0002 * (attempt % 10)))
        done, _ = await asyncio.wait({reader}, timeout=3)
        if not done:
            reader.cancel()
        assert done, f"attempt {attempt}: the deadline passed and the reader kept reading"
        assert isinstance(reader.exception(), TimeoutError)


async def test_many_quiet_readers_leave_the_log_check_to_the_hub_and_still_find_an_unsent_event(
    session_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sessions import streams
    from sessions.hub import get_hub

    reads: list[int] = []
    real_read = streams._read_log

    async def counting_read(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        reads.append(1)
        return await real_read(*args, **kwargs)

    monkeypatch.setattr(streams, "_read_log", counting_read)
    checks: list[dict[str, int]] = []
    real_heads_past = eventlog.heads_past

    def counting_heads_past(seen: dict[str, int]) -> dict[str, int]:
        checks.append(dict(seen))
        return real_heads_past(seen)

    monkeypatch.setattr(eventlog, "heads_past", counting_heads_past)
    readers = [session_events(session_id, 0) for _ in range(20)]
    tasks = [asyncio.create_task(collect(r, 1, timeout=30)) for r in readers]
    hub = get_hub()
    async with asyncio.timeout(30):
        while len(checks) < 3:  # three log checks of the quiet session (STREAM_POLL_SECONDS each)
            await asyncio.sleep(0.05)

    # Each reader read the log once, when it started (the hub learnt the session's head from
    # those reads); the quiet session's checks since were the hub's, one per interval for all
    # 20 readers, each asking about the session once.
    assert len(reads) == 20
    assert all(check == {session_id: 0} for check in checks)
    assert hub.log_checks >= 3

    # An event stored but never sent (its publisher died before the PUBLISH) still arrives.
    await asyncio.to_thread(eventlog.event_append, session_id, MessageDeltaEvent(delta="silent").model_dump())
    received = await asyncio.gather(*tasks)
    for reader in readers:
        await reader.aclose()

    assert [[e["delta"] for e in got] for got in received] == [["silent"]] * 20
    assert len(reads) == 40  # one more read each, on the hub's Resync


async def test_an_sse_stream_gets_an_event_that_was_never_sent(session_id: str) -> None:
    from agents.apis import _sse_stream

    stream = _sse_stream(session_id, 0, "t1")
    frames = asyncio.create_task(collect(stream, 2, timeout=20))
    await asyncio.sleep(0.3)
    await asyncio.to_thread(eventlog.event_append, session_id, MessageDeltaEvent(delta="silent").model_dump())
    got = await frames
    await stream.aclose()

    assert got[0] == "retry: 3000\n\n"
    assert got[1].startswith("id: 1\nevent: message_delta\n") and '"delta":"silent"' in got[1]


async def test_a_websocket_gets_an_event_that_was_never_sent(alice: Any, session_id: str) -> None:
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator
    from rest_framework_simplejwt.tokens import RefreshToken

    from anker_project.asgi import application

    token = await sync_to_async(lambda: str(RefreshToken.for_user(alice).access_token))()
    ws = WebsocketCommunicator(application, f"/api/v1/ws/sessions/{session_id}?token={token}")
    connected, _ = await ws.connect(timeout=10)
    await asyncio.sleep(0.3)
    await asyncio.to_thread(eventlog.event_append, session_id, MessageDeltaEvent(delta="silent").model_dump())
    frame = await ws.receive_json_from(timeout=20)
    await ws.disconnect()

    assert connected
    assert (frame["event"], frame["data"]["seq"], frame["data"]["delta"]) == ("message_delta", 1, "silent")


async def test_an_idle_reader_heartbeats_on_time_however_rarely_the_log_is_checked(
    session_id: str, settings: Any
) -> None:
    settings.STREAM_POLL_SECONDS = 600.0
    stream = session_events(session_id, 0, heartbeat_seconds=0.2)

    items = await collect(stream, 3, timeout=5)
    await stream.aclose()

    assert items == [HEARTBEAT, HEARTBEAT, HEARTBEAT]
