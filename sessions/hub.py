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
import contextlib
import json
import logging
import weakref
from typing import Any

from django.conf import settings
from redis import asyncio as aioredis
from redis.exceptions import RedisError

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
    def __init__(self) -> None:
        self._redis = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3, health_check_interval=30)
        self._pubsub = self._redis.pubsub()
        self._readers: dict[str, set[Subscription]] = {}
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._cleanups: set[asyncio.Future[None]] = set()

    async def subscribe(self, session_id: str) -> Subscription:
        channel = session_channel(session_id)
        sub = Subscription(self, channel)
        async with self._lock:
            readers = self._readers.setdefault(channel, set())
            readers.add(sub)
            confirmed = self._confirmed.get(channel)
            if confirmed is None:
                confirmed = self._confirmed[channel] = asyncio.get_running_loop().create_future()
                try:
                    await self._pubsub.subscribe(channel)
                except BaseException:
                    readers.discard(sub)
                    self._confirmed.pop(channel, None)
                    raise
                if self._task is None or self._task.done():
                    self._task = asyncio.create_task(self._dispatch(), name="session-hub")
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_SECONDS):
                await asyncio.shield(confirmed)
        except BaseException:
            # Cancelled (the reader went away) or never confirmed: leave nothing behind. Not
            # awaited here, as a cancelled task must not wait on the network.
            cleanup = asyncio.ensure_future(self.unsubscribe(sub))
            self._cleanups.add(cleanup)
            cleanup.add_done_callback(self._cleanups.discard)
            raise
        return sub

    async def unsubscribe(self, sub: Subscription) -> None:
        async with self._lock:
            readers = self._readers.get(sub.channel)
            if readers is None or sub not in readers:
                return
            readers.discard(sub)
            if readers:
                return
            del self._readers[sub.channel]
            self._confirmed.pop(sub.channel, None)
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(sub.channel)

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
            confirmed = self._confirmed.get(str(channel))
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
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
