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
from .events import Event, RollbackEvent
from .live import event_send
from .services import session_apply_event, session_summary_after_rollback, session_summary_changes


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


def events_roll_back(session_id: str, *, turn_ids: list[str], from_seq: int, turn_id: str | None) -> dict[str, Any]:
    """Discard every event of `turn_ids` from `from_seq` on, then publish the one `rollback` event
    that names them. Returns its dump.

    The caller makes sure those turns publish nothing more (they are cancelled, or this is
    their worker ending them). Marked before the event is sent, so a reader that hears of
    the rollback and then reads the log finds none of them; one that had them already drops
    them by the event's `turn_ids` and seq range.
    """
    to_seq = eventlog.last_seq(session_id)
    discarded = eventlog.events_discard(session_id, turn_ids=turn_ids, from_seq=from_seq, to_seq=to_seq)
    answers = discarded and _discarded_answers(session_id, turn_ids=turn_ids, from_seq=from_seq, to_seq=to_seq)
    session_summary_after_rollback(session_id=session_id, discarded_answers=answers)
    event = RollbackEvent(turn_ids=turn_ids, from_seq=from_seq, to_seq=to_seq, turn_id=turn_id)
    key = f"turn:{turn_id}:end" if turn_id else None  # a turn ends once, whoever ends it
    return event_publish(session_id, event, dedupe_key=key)


def _discarded_answers(session_id: str, *, turn_ids: list[str], from_seq: int, to_seq: int) -> int:
    return eventlog.events_discarded_count(
        session_id, turn_ids=turn_ids, from_seq=from_seq, to_seq=to_seq, type_="message", role="assistant"
    )
