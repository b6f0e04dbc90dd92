"""The one publisher: store an event in the log, then send it to the session's readers.

Nothing is broadcast that is not stored. Publishing holds a per-session Redis lock around
"next seq → insert → group_send", so readers receive a session's events in `seq` order;
a reader that still sees a jump (a dropped message) backfills from the log.
"""

import asyncio
import contextlib
import logging
import os
import threading
from typing import Any

from channels.layers import get_channel_layer
from redis.exceptions import LockError

from anker_project.redis_client import get_redis

from . import eventlog
from .events import Event

logger = logging.getLogger(__name__)

# The lock expires on its own if a publisher dies holding it; waiting for it is bounded too.
PUBLISH_LOCK_SECONDS = 30
PUBLISH_LOCK_WAIT_SECONDS = 60


class PublishBusyError(Exception):
    """The session's publish lock stayed taken for PUBLISH_LOCK_WAIT_SECONDS."""


def session_group(session_id: str) -> str:
    return f"session.{session_id}"


def user_sessions_group(user_id: int) -> str:
    return f"user.{user_id}.sessions"


SEND_TIMEOUT_SECONDS = 10


class _SendLoop:
    """One event loop thread per process for the channel layer's sends.

    `async_to_sync` from a worker thread would start a loop, and a Redis connection, per
    call; this keeps both alive, which makes a send ~10x cheaper.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="channel-layer-send", daemon=True).start()

    def send(self, group: str, message: dict[str, Any]) -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), self.loop)
        future.result(timeout=SEND_TIMEOUT_SECONDS)


_send_loop_guard = threading.Lock()
_send_loop: tuple[int, _SendLoop] | None = None


def group_send(group: str, message: dict[str, Any]) -> None:
    """Send to a Channels group from synchronous code (a worker, a sync view)."""
    global _send_loop
    pid = os.getpid()
    if _send_loop is None or _send_loop[0] != pid:
        with _send_loop_guard:
            if _send_loop is None or _send_loop[0] != pid:
                _send_loop = (pid, _SendLoop())
    _send_loop[1].send(group, message)


def event_publish(session_id: str, event: Event, *, dedupe_key: str | None = None) -> dict[str, Any]:
    """Store `event` with the session's next seq and send it live. Returns the stored dump.

    With a `dedupe_key` the event is stored at most once per session: publishing the same
    key again (a redelivered turn redoing a step) returns the stored event and re-sends it,
    which readers drop by seq.
    """
    from .services import session_apply_event  # services import the publisher's helpers

    dump = event.model_dump(mode="json")
    lock = get_redis().lock(
        f"anker:publish:{session_id}", timeout=PUBLISH_LOCK_SECONDS, blocking_timeout=PUBLISH_LOCK_WAIT_SECONDS
    )
    stored = eventlog.event_find_by_dedupe_key(session_id, dedupe_key) if dedupe_key else None
    if stored is None:
        # The session row follows the event before readers hear of it, so a reader reacting to
        # it (marking it read) acts on the updated row; done before the lock, which then covers
        # only the log and the send. A dedupe key is only reused by the one turn holding the
        # session, so the check above cannot race with its own duplicate.
        session_apply_event(session_id, dump)
    if not lock.acquire():
        raise PublishBusyError(f"could not take the publish lock of session {session_id}")
    try:
        if stored is None:
            stored = eventlog.event_append(session_id, dump, dedupe_key=dedupe_key)
        group_send(session_group(session_id), {"type": "session.event", "event": stored})
    finally:
        # On an overloaded machine the lock may have expired before we got here: the event
        # is stored and sent all the same, and readers order by seq, so that is not an error.
        with contextlib.suppress(LockError):
            lock.release()
    return stored
