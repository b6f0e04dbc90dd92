"""The one publisher: store an event in the log, then send it to the session's readers.

Per event, in the steady state: one Mongo insert and one Redis PUBLISH, no lock round trip.

The contract and why it holds:
- Nothing is sent that is not stored: the send follows the acknowledged insert.
- A session's seqs are strictly increasing and the log is a gapless prefix: the insert
  claims `head + 1` under a unique index, and a writer only learns `head` from the log
  (`eventlog.py` has the argument). Any number of publishers, threads or processes, may
  publish to one session at once.
- Sends may cross: publisher A stores 5, B stores 6, B's send arrives first. A reader that
  gets 6 after 4 reads 5 (and anything else below 6) from the log, which has it, then
  drops A's late 5 as already seen. Readers therefore yield each seq exactly once, in
  order, live or replayed (`streams.py`).
- Dedupe keys: publishing a key already stored for the session stores nothing and re-sends
  the stored event (readers drop it by seq). Events without a key cost no lookup.
- The session row's summary (title, status, latest message) follows the event before
  readers hear of it, so a reader reacting to it (marking it read) acts on the updated row.
  Only `message`, `title` and `status` events touch it: a streamed token never does.
"""

from __future__ import annotations

from typing import Any

from . import eventlog
from .events import Event
from .live import event_send
from .services import session_apply_event, session_summary_changes


def event_publish(session_id: str, event: Event, *, dedupe_key: str | None = None) -> dict[str, Any]:
    """Store `event` with the session's next seq and send it live. Returns the stored dump.

    With a `dedupe_key` the event is stored at most once per session: publishing the same
    key again (a redelivered turn redoing a step) returns the stored event and re-sends it.
    """
    dump = event.model_dump(mode="json")
    if session_summary_changes(dump):
        # A summary event is applied once: a redelivered one must not count twice as unread.
        stored = eventlog.event_find_by_dedupe_key(session_id, dedupe_key) if dedupe_key else None
        if stored is not None:
            event_send(session_id, stored)
            return stored
        session_apply_event(session_id, dump)
    stored, _new = eventlog.event_append(session_id, dump, dedupe_key=dedupe_key)
    event_send(session_id, stored)
    return stored
