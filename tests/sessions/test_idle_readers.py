"""What idle readers cost the event log, counted at the store (pymongo's command events), and
that they still get an event stored but never sent. Real Redis and the Mongo-compatible server."""

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from pymongo import monitoring

from anker_project import mongo
from sessions import eventlog
from sessions.events import MessageDeltaEvent
from sessions.hub import get_hub
from sessions.publisher import event_publish
from sessions.services import session_create
from sessions.streams import session_events

pytestmark = pytest.mark.django_db(transaction=True)


class LogFinds(monitoring.CommandListener):
    """The filters of the `find` commands sent to the event log while `active`."""

    def __init__(self) -> None:
        self.active = False
        self.filters: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.active and event.command_name == "find" and event.command.get("find") == "events":
            self.filters.append(dict(event.command.get("filter", {})))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def reads(self) -> Counter[str]:
        """A reader's reads of one session's log (after a seq), by session."""
        return Counter(f["session_id"] for f in self.filters if isinstance(f.get("session_id"), str) and "seq" in f)

    def checks(self) -> list[set[str]]:
        """The hub's checks: the sessions each one asked about."""
        return [set(f["session_id"]["$in"]) for f in self.filters if isinstance(f.get("session_id"), dict)]

    def others(self) -> list[dict[str, Any]]:
        """Any other read of the log (a head read, ...)."""
        return [f for f in self.filters if isinstance(f.get("session_id"), str) and "seq" not in f]


_listener = LogFinds()
monitoring.register(_listener)  # only clients created from now on report to it: see the fixture


@pytest.fixture
def log_finds() -> Iterator[LogFinds]:
    mongo.reset()  # the next client the adapter creates reports to the listener
    _listener.filters.clear()
    _listener.active = True
    yield _listener
    _listener.active = False


async def wait_until(condition: Any, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def first_events(stream: Any, count: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async for event in stream:
        out.append(event)
        if len(out) == count:
            return out
    return out


async def test_idle_readers_of_quiet_sessions_read_each_log_once_and_still_get_an_unsent_event(
    alice: Any, settings: Any, log_finds: LogFinds
) -> None:
    # Given 30 quiet sessions with two events each, the hub checking every 0.1 s
    settings.STREAM_POLL_SECONDS = 0.1
    sessions = [(await sync_to_async(session_create)(owner_id=alice.pk, mode="lite")).id for _ in range(30)]
    for session_id in sessions:
        for delta in ("a", "b"):
            await asyncio.to_thread(event_publish, session_id, MessageDeltaEvent(delta=delta))
    log_finds.filters.clear()

    # When an idle reader follows each, from the start, for at least five checks
    readers = [session_events(session_id, 0) for session_id in sessions]
    tasks = [asyncio.create_task(first_events(reader, 3)) for reader in readers]
    await wait_until(lambda: sum(log_finds.reads().values()) >= 30)
    hub = get_hub()
    checks_before = hub.log_checks
    await wait_until(lambda: hub.log_checks >= checks_before + 6)  # the first may precede a report
    await asyncio.sleep(0.05)  # the last check's query is sent

    # Then each session's log was read once (its reader's replay): no head read, no resync;
    # the rest were the hub's checks, each asking about all 30 sessions in one query
    assert log_finds.reads() == dict.fromkeys(sessions, 1)
    assert log_finds.others() == []
    checks = log_finds.checks()
    assert len(checks) >= 5
    assert checks[-5:] == [set(sessions)] * 5

    # When an event of one session is stored but never sent (its publisher died before the PUBLISH)
    await asyncio.to_thread(eventlog.event_append, sessions[0], MessageDeltaEvent(delta="silent").model_dump())
    got = await asyncio.wait_for(tasks[0], 30)
    await asyncio.sleep(0.3)  # three more checks: no other reader is sent to the log

    # Then its reader gets it, after the two it replayed, with one more read; no other reader reads
    assert [(e["seq"], e["delta"]) for e in got] == [(1, "a"), (2, "b"), (3, "silent")]
    assert log_finds.reads() == {sessions[0]: 2} | dict.fromkeys(sessions[1:], 1)
    for task in tasks[1:]:
        assert not task.done()
        task.cancel()
    await asyncio.gather(*tasks[1:], return_exceptions=True)
    for reader in readers:
        await reader.aclose()


async def test_a_reader_joining_a_watched_session_reads_once_and_both_get_an_unsent_event(
    alice: Any, settings: Any, log_finds: LogFinds
) -> None:
    # Given a session one reader already follows (the hub knows its head), the hub checking often
    settings.STREAM_POLL_SECONDS = 0.1
    session_id = (await sync_to_async(session_create)(owner_id=alice.pk, mode="lite")).id
    await asyncio.to_thread(event_publish, session_id, MessageDeltaEvent(delta="a"))
    first = session_events(session_id, 0)
    first_task = asyncio.create_task(first_events(first, 2))
    hub = get_hub()
    await wait_until(lambda: log_finds.reads()[session_id] >= 1)
    checks_before = hub.log_checks
    await wait_until(lambda: hub.log_checks >= checks_before + 2)

    # When a second reader joins after the last seq it has, and several checks pass
    second = session_events(session_id, 1)
    second_task = asyncio.create_task(first_events(second, 1))
    await wait_until(lambda: log_finds.reads()[session_id] >= 2)
    checks_before = hub.log_checks
    await wait_until(lambda: hub.log_checks >= checks_before + 3)

    # Then it read the log once (no resync: the hub had seen that head)
    assert log_finds.reads() == {session_id: 2}

    # When an event is stored but never sent, both readers get it
    await asyncio.to_thread(eventlog.event_append, session_id, MessageDeltaEvent(delta="silent").model_dump())
    got_first, got_second = await asyncio.wait_for(asyncio.gather(first_task, second_task), 30)
    await first.aclose()
    await second.aclose()

    assert [(e["seq"], e["delta"]) for e in got_first] == [(1, "a"), (2, "silent")]
    assert [(e["seq"], e["delta"]) for e in got_second] == [(2, "silent")]
    assert log_finds.reads() == {session_id: 4}
