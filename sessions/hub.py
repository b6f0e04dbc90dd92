"""One Redis subscription per watched session per process, shared by its readers.

The publisher sends each stored event once, to the session's pub/sub channel (`live.py`).
A web process keeps one subscriber connection (per event loop) and, per session watched
by at least one of its readers, one channel subscription; an arriving event is decoded
once and queued to each local reader. A reader's queue is bounded: a reader that falls
that far behind loses live messages, notices the jump in seq and reads them from the log
(`streams.py`), so being slow costs it latency, never events, and never the others.

`subscribe` returns only once Redis has confirmed the subscription, so a reader that
subscribes, then reads the log, cannot miss an event stored after that read.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import weakref
from typing import Any

from django.conf import settings
from redis import asyncio as aioredis

from .live import session_channel

logger = logging.getLogger(__name__)

READER_QUEUE_SIZE = 1000
SUBSCRIBE_TIMEOUT_SECONDS = 10.0


class Resync:
    """Queued to every reader after the hub lost its connection: check the log."""


RESYNC = Resync()


class Subscription:
    """A reader's view of one session: live events, in the order Redis delivered them."""

    def __init__(self, hub: SessionHub, channel: str) -> None:
        self.hub = hub
        self.channel = channel
        self.queue: asyncio.Queue[dict[str, Any] | Resync] = asyncio.Queue(maxsize=READER_QUEUE_SIZE)

    def offer(self, item: dict[str, Any] | Resync) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # the reader backfills from the log
            self.queue.put_nowait(item)

    async def get(self) -> dict[str, Any] | Resync:
        return await self.queue.get()

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

    async def subscribe(self, session_id: str) -> Subscription:
        channel = session_channel(session_id)
        sub = Subscription(self, channel)
        self._readers.setdefault(channel, set()).add(sub)
        confirmed = self._confirmed.get(channel)
        if confirmed is None:
            confirmed = self._confirmed[channel] = asyncio.get_running_loop().create_future()
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

    def _drop(self, sub: Subscription) -> None:
        readers = self._readers.get(sub.channel)
        if readers is None or sub not in readers:
            return
        readers.discard(sub)
        if readers:
            return
        del self._readers[sub.channel]
        self._confirmed.pop(sub.channel, None)
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
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
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
