"""The one reader of a session's events, shared by the SSE view and the WebSocket consumer.

It subscribes to the session's live channel first (`hub.py`), then replays the log after
the client's last seq, then goes live. Anything at or below what it already yielded is
dropped; a jump in seq (a message lost, or two publishers' sends crossing) is filled from
the log, which always holds every seq below one that was sent (`eventlog.py`); and on a
`Resync` from the hub it reads the log after its last seq. The hub sends one when this
reader may have missed something: its connection to Redis dropped, this reader's queue
overflowed, or its periodic check (one query per process for all watched sessions, every
STREAM_POLL_SECONDS) found an event past what its readers' first reads found and what
came live, i.e. stored but never sent. So a reader reads the log once when it starts and
never just because its session is quiet, and an event is never lost, only late.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async

from . import eventlog
from .events import event_ends_turn
from .hub import Resync, get_hub

# Seqs are stored as 64-bit integers: a larger number cannot be compared with them (pymongo raises
# OverflowError), so it is bad input, not a position in the log.
MAX_SEQ = 2**63 - 1


def parse_seq(raw: str) -> int:
    """A client's last seen seq (`event_id`, `Last-Event-ID`, `?after=`): ASCII digits, at most
    MAX_SEQ. Raises ValueError for anything else ("²" is a digit to `str.isdigit`, not to us)."""
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_SEQ:
        raise ValueError(f"not an event seq: {raw[:40]!r}")
    return int(text)


_read_log = sync_to_async(eventlog.events_after, thread_sensitive=False)


class Heartbeat:
    """Yielded when nothing happened for a while, so an SSE writer can send a keep-alive."""


HEARTBEAT = Heartbeat()


async def session_events(
    session_id: str,
    after: int,
    *,
    until_turn: str | None = None,
    heartbeat_seconds: float | None = None,
) -> AsyncIterator[dict[str, Any] | Heartbeat]:
    """Yield the session's events after `after`, in seq order, each exactly once.

    With `until_turn`, the stream ends after that turn's `done`, `error` or `wait`.
    With `heartbeat_seconds`, `HEARTBEAT` is yielded after that long without events.
    """
    subscription = await get_hub().subscribe(session_id)
    loop = asyncio.get_running_loop()
    # When the next HEARTBEAT is due (None: never): heartbeat_seconds after the last yield.
    beat_at = None if heartbeat_seconds is None else loop.time() + heartbeat_seconds
    last = after
    try:
        pending: list[dict[str, Any]] = await _read_log(session_id, last)
        # The hub checks the log past what this read found (and what came live meanwhile), so
        # an event stored after it but never sent still reaches this reader, without a read
        # of the log head for a session no other reader of the process watched.
        subscription.caught_up(pending[-1]["seq"] if pending else last)
        while True:
            for event in pending:
                if event["seq"] <= last:
                    continue
                last = event["seq"]
                yield event
                if heartbeat_seconds is not None:
                    beat_at = loop.time() + heartbeat_seconds
                if until_turn and event_ends_turn(event, until_turn):
                    return
            pending = []
            live = subscription.get_nowait()
            if live is None:
                try:
                    # asyncio.timeout_at, not wait_for: on 3.11 wait_for can swallow the reader's
                    # own cancellation (a closed socket) when an event arrives at that moment.
                    async with asyncio.timeout_at(beat_at):
                        live = await subscription.get()
                except TimeoutError:
                    live = None
            if beat_at is not None and heartbeat_seconds is not None and loop.time() >= beat_at:
                beat_at = loop.time() + heartbeat_seconds
                yield HEARTBEAT
            if live is None:
                continue
            if isinstance(live, Resync):
                pending = await _read_log(session_id, last)
                continue
            seq = live.get("seq")
            if not isinstance(seq, int) or seq <= last:
                continue
            # A jump: what lies between is in the log (it holds every seq below one sent).
            pending = await _read_log(session_id, last, up_to_seq=seq) if seq > last + 1 else [live]
    finally:
        await subscription.close()


def sse_frame(event: dict[str, Any]) -> str:
    return f"id: {event['seq']}\nevent: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"


SSE_HEARTBEAT_FRAME = ": keep-alive\n\n"
