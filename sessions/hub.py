"""One Redis subscription per watched session per process, shared by its readers.

The publisher sends each stored event once, to the session's pub/sub channel (`live.py`).
A web process keeps one subscriber connection (per event loop) and, per session watched
by at least one of its readers, one channel subscription; an arriving event is decoded
once and queued to each local reader. A reader's queue is bounded: a reader that falls
that far behind loses live messages, and gets a `Resync` once it has drained the rest, so
it reads them from the log (`streams.py`): being slow costs it latency, never events, and
never the others.

`subscribe` returns only once Redis has confirmed the subscription, so a reader that
subscribes, then reads the log, cannot miss an event stored after that read: it is either
sent (and queued to the reader), or stored but never sent (its publisher died between the
insert and the PUBLISH). The hub finds the latter. Per watched session it keeps `seen`, a
seq every reader of the session has or will get without help: everything up to it was
in the reader's first log read or queued to it live (a live event makes the reader fill
any jump below it from the log). A reader tells the hub how far its first read took it
(`Subscription.caught_up`), raised by what was queued to it live meanwhile; the session's
first such report sets `seen`, a later one can only lower it (a read cut short by its
limit), and every live event's seq raises it. Every STREAM_POLL_SECONDS the hub asks the
log which watched sessions hold a seq above `seen`, in one indexed read for sessions with
similar heads (`eventlog.heads_past`), and resyncs those sessions' readers. So the log is
checked once per interval per process, however many readers it serves; a newly watched
session costs nothing beyond its readers' own first reads; and an event is late by at
most about one interval. An unsent event below a later sent one needs no check: the
reader sees the jump in seq and fills it from the log.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
import weakref
from typing import Any

from django.conf import settings
from redis import asyncio as aioredis

from . import eventlog
from .live import session_channel

logger = logging.getLogger(__name__)

READER_QUEUE_SIZE = 1000
SUBSCRIBE_TIMEOUT_SECONDS = 10.0


class Resync:
    """Given to a reader that may have missed an event (the hub lost its connection, the
    reader's queue overflowed, or the log holds an event that was never sent): read the log."""


RESYNC = Resync()


class Subscription:
    """A reader's view of one session: live events, in the order Redis delivered them."""

    def __init__(self, hub: SessionHub, channel: str) -> None:
        self.hub = hub
        self.channel = channel
        self.queue: asyncio.Queue[dict[str, Any] | Resync] = asyncio.Queue(maxsize=READER_QUEUE_SIZE)
        self._overflowed = False
        self.live_seq = 0  # the highest seq queued to this reader live

    def offer(self, item: dict[str, Any] | Resync) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self._overflowed = True  # a Resync once the queue is drained: the log has it
            return
        if isinstance(item, dict) and isinstance(seq := item.get("seq"), int) and seq > self.live_seq:
            self.live_seq = seq

    def caught_up(self, seq: int) -> None:
        """The reader's first log read (after subscribing) left it knowing every event up to `seq`."""
        self.hub.caught_up(self, max(seq, self.live_seq))

    def get_nowait(self) -> dict[str, Any] | Resync | None:
        """The next item if one is ready, else None."""
        try:
            return self.queue.get_nowait()
        except asyncio.QueueEmpty:
            pass
        if self._overflowed:
            self._overflowed = False
            return RESYNC
        return None

    async def get(self) -> dict[str, Any] | Resync:
        item = self.get_nowait()
        return item if item is not None else await self.queue.get()

    async def close(self) -> None:
        await self.hub.unsubscribe(self)


class SessionHub:
    """Readers subscribe and unsubscribe with plain bookkeeping; the hub's own tasks talk to Redis.

    A reader's task never awaits a redis-py command: on Python 3.11, redis-py sends with
    `asyncio.wait_for`, which returns normally when the caller is cancelled just as the send
    completes, swallowing the cancellation. A reader cancelled at that moment (its client gone,
    its deadline passed) would then keep streaming for the rest of the turn. So SUBSCRIBE and
    UNSUBSCRIBE are queued to one command task, which sends them in order, and a reader only
    awaits the confirmation future (through `shield`, which always delivers a cancellation).
    """

    def __init__(self) -> None:
        self._redis = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3, health_check_interval=30)
        self._pubsub = self._redis.pubsub()
        self._readers: dict[str, set[Subscription]] = {}
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        # Subscribe acks still due per channel: a channel unsubscribed and subscribed again
        # is confirmed by its last SUBSCRIBE's ack, not by an earlier one still on the wire.
        self._acks_due: dict[str, int] = {}
        self._commands: collections.deque[tuple[str, str]] = collections.deque()
        self._commander: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        # Per watched channel: its session, and a seq every reader has or will get without a
        # resync (None until a reader has reported its first log read: not checked till then).
        self._sessions: dict[str, str] = {}
        self._seen: dict[str, int | None] = {}
        self._next_check = 0.0
        self._check: asyncio.Task[None] | None = None
        self.log_checks = 0  # how many times the log was asked (for tests and benches)

    async def subscribe(self, session_id: str) -> Subscription:
        channel = session_channel(session_id)
        sub = Subscription(self, channel)
        self._readers.setdefault(channel, set()).add(sub)
        confirmed = self._confirmed.get(channel)
        if confirmed is None:
            confirmed = self._confirmed[channel] = asyncio.get_running_loop().create_future()
            self._sessions[channel] = session_id
            self._seen[channel] = None
            self._command("subscribe", channel)
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_SECONDS):
                await asyncio.shield(confirmed)
        except BaseException:
            # Cancelled (the reader went away), never confirmed or refused: leave nothing behind.
            self._drop(sub)
            raise
        return sub

    async def unsubscribe(self, sub: Subscription) -> None:
        self._drop(sub)

    def caught_up(self, sub: Subscription, seq: int) -> None:
        readers = self._readers.get(sub.channel)
        if readers is None or sub not in readers:
            return
        seen = self._seen.get(sub.channel)
        # Lowered, never raised: another reader may know less (the first report sets it).
        self._seen[sub.channel] = seq if seen is None else min(seen, seq)

    def _drop(self, sub: Subscription) -> None:
        readers = self._readers.get(sub.channel)
        if readers is None or sub not in readers:
            return
        readers.discard(sub)
        if readers:
            return
        del self._readers[sub.channel]
        self._confirmed.pop(sub.channel, None)
        self._sessions.pop(sub.channel, None)
        self._seen.pop(sub.channel, None)
        self._command("unsubscribe", sub.channel)

    def _command(self, kind: str, channel: str) -> None:
        self._commands.append((kind, channel))
        if self._commander is None or self._commander.done():
            self._commander = asyncio.create_task(self._send_commands(), name="session-hub-commands")

    async def _send_commands(self) -> None:
        """Send the queued commands in order; exits when the queue is empty."""
        while self._commands:
            kind, channel = self._commands.popleft()
            if kind == "subscribe":
                self._acks_due[channel] = self._acks_due.get(channel, 0) + 1  # before the ack can arrive
                try:
                    await self._pubsub.subscribe(channel)
                except Exception as exc:  # Redis unreachable: the channel's readers are told
                    self._ack(channel, error=exc)
                    continue
                if self._task is None or self._task.done():
                    self._task = asyncio.create_task(self._dispatch(), name="session-hub")
            else:
                try:
                    await self._pubsub.unsubscribe(channel)
                except Exception:  # a dropped connection ends every subscription anyway
                    logger.debug("could not unsubscribe from %s", channel, exc_info=True)

    async def _dispatch(self) -> None:
        poll = settings.STREAM_POLL_SECONDS
        while True:
            now = time.monotonic()
            if now >= self._next_check:
                self._next_check = now + poll
                if self._check is None or self._check.done():
                    self._check = asyncio.create_task(self._check_log(), name="session-hub-log-check")
            try:
                message = await self._pubsub.get_message(timeout=min(1.0, poll))
            except asyncio.CancelledError:
                raise
            except Exception:
                # Dropped connection: redis-py reconnects and re-subscribes on the next
                # call; what was published meanwhile is in the log.
                logger.warning("session hub lost its Redis connection; readers resync from the log", exc_info=True)
                await asyncio.sleep(0.5)
                self._acks_due.clear()  # acks of what was sent before are lost; redis-py re-subscribes
                self._resync_all()
                continue
            if message is None:
                if not self._readers:
                    return  # nothing watched: the next subscribe starts a new dispatcher
                continue
            self._handle(message)

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        channel = message.get("channel")
        if isinstance(channel, bytes):
            channel = channel.decode()
        if kind == "subscribe":
            self._ack(str(channel))
            return
        if kind != "message":
            return
        readers = self._readers.get(str(channel))
        if not readers:
            return
        try:
            event = json.loads(message["data"])
        except (TypeError, ValueError):
            logger.warning("dropped a malformed message on %s", channel)
            return
        seq = event.get("seq") if isinstance(event, dict) else None
        seen = self._seen.get(str(channel))
        if isinstance(seq, int) and seen is not None and seq > seen:
            self._seen[str(channel)] = seq
        for sub in readers:
            sub.offer(event)

    def _ack(self, channel: str, *, error: Exception | None = None) -> None:
        """A SUBSCRIBE of `channel` was acknowledged (or failed): confirm its readers once the
        last one sent is."""
        due = self._acks_due.get(channel, 0) - 1
        if due > 0:
            self._acks_due[channel] = due
            return
        self._acks_due.pop(channel, None)
        confirmed = self._confirmed.get(channel)
        if confirmed is None or confirmed.done():
            return
        if error is None:
            confirmed.set_result(None)
        else:
            del self._confirmed[channel]  # the next reader tries again
            confirmed.set_exception(error)
            confirmed.exception()  # retrieved: a reader cancelled meanwhile must not make it "never retrieved"

    async def _check_log(self) -> None:
        """Resync the readers of every watched session whose log holds a seq past its `seen`."""
        known = {channel: seen for channel, seen in self._seen.items() if seen is not None}
        if not known:
            return
        by_session = {self._sessions[c]: seen for c, seen in known.items()}
        self.log_checks += 1
        try:
            heads = await asyncio.to_thread(eventlog.heads_past, by_session)
        except Exception:
            logger.warning("could not check the event log for unsent events; will retry", exc_info=True)
            return
        for channel in known:
            head = heads.get(self._sessions.get(channel, ""))
            seen = self._seen.get(channel)  # the channel may have gone, or a report lowered it, meanwhile
            if head is None or seen is None or head <= seen:
                continue
            self._seen[channel] = head
            for sub in self._readers.get(channel, ()):
                sub.offer(RESYNC)

    def _resync_all(self) -> None:
        for readers in self._readers.values():
            for sub in readers:
                sub.offer(RESYNC)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SessionHub] = weakref.WeakKeyDictionary()


def get_hub() -> SessionHub:
    """The hub of the running event loop (daphne has one; tests may run several)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = SessionHub()
    return hub
