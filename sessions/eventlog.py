"""The event log: every event of a session, in `seq` order, in MongoDB.

How a seq is assigned (one round trip in the steady state, no lock, no counter document):
the writer inserts the event with `seq = head + 1`, where `head` is the highest seq it
knows to be stored for the session; the unique index on `(session_id, seq)` lets exactly
one writer have each seq. A writer that loses (DuplicateKeyError on the seq) reads the
real head from the log and tries again. `head` is only ever learnt from the log itself
(a read, or this process's own acknowledged insert), so:

    a writer inserts seq n only after it has seen seq n-1 stored.

Hence the log is always a gapless prefix: whoever sees seq n in the log (or live, since
events are sent after they are stored) finds every seq below n in the log too. Readers
rely on that to fill a jump from the log (`streams.py`). The same holds across processes
and machines; within a process a per-session lock keeps threads from racing each other
for the same seq (a collision would cost a round trip, not correctness).

Dedupe keys: the insert carries the key, and a partial unique index on
`(session_id, dedupe_key)` refuses a second event with it; the stored one is returned.
Events without a key never pay for a lookup.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from .mongo import get_db

# How many sessions' heads a process remembers; a forgotten one costs one read.
_HEADS_MAX = 10_000
# Losing the race for a seq this many times in a row means something is badly wrong.
_MAX_SEQ_RETRIES = 100


class SeqContentionError(Exception):
    """A writer kept losing the race for the next seq of a session."""


class _Heads:
    """This process's knowledge of each session's highest stored seq, and a lock per session."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._heads: OrderedDict[str, int] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}

    def lock(self, session_id: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(session_id)
            if lock is None:
                if len(self._locks) > _HEADS_MAX:  # drop idle locks; a held one is still referenced
                    self._locks = {k: v for k, v in self._locks.items() if v.locked()}
                lock = self._locks[session_id] = threading.Lock()
            return lock

    def get(self, session_id: str) -> int | None:
        with self._guard:
            head = self._heads.get(session_id)
            if head is not None:
                self._heads.move_to_end(session_id)
            return head

    def set(self, session_id: str, head: int) -> None:
        with self._guard:
            self._heads[session_id] = head
            self._heads.move_to_end(session_id)
            while len(self._heads) > _HEADS_MAX:
                self._heads.popitem(last=False)

    def forget(self, session_id: str) -> None:
        with self._guard:
            self._heads.pop(session_id, None)


_heads = _Heads()


def _strip(doc: dict[str, Any]) -> dict[str, Any]:
    doc.pop("_id", None)
    doc.pop("session_id", None)
    doc.pop("dedupe_key", None)
    return doc


def event_find_by_dedupe_key(session_id: str, dedupe_key: str) -> dict[str, Any] | None:
    doc = get_db().events.find_one({"session_id": session_id, "dedupe_key": dedupe_key})
    return _strip(doc) if doc else None


def event_append(
    session_id: str, dump: dict[str, Any], *, dedupe_key: str | None = None
) -> tuple[dict[str, Any], bool]:
    """Store `dump` with the session's next seq. Returns the stored event and whether it is new.

    With a `dedupe_key` already stored for the session, nothing is written and the stored
    event is returned with `False`.
    """
    events = get_db().events
    with _heads.lock(session_id):
        head = _heads.get(session_id)
        if head is None:
            head = last_seq(session_id)
        for _ in range(_MAX_SEQ_RETRIES):
            seq = head + 1
            stored = {**dump, "seq": seq, "event_id": str(seq)}
            doc: dict[str, Any] = {**stored, "session_id": session_id}
            if dedupe_key is not None:
                doc["dedupe_key"] = dedupe_key
            try:
                events.insert_one(doc)
            except DuplicateKeyError:
                if dedupe_key is not None:
                    existing = event_find_by_dedupe_key(session_id, dedupe_key)
                    if existing is not None:
                        return existing, False
                head = last_seq(session_id)  # another writer took `seq`: learn the real head
                continue
            _heads.set(session_id, seq)
            return stored, True
    _heads.forget(session_id)
    raise SeqContentionError(f"lost the race for the next seq of session {session_id} {_MAX_SEQ_RETRIES} times")


def events_after(
    session_id: str,
    after_seq: int,
    *,
    up_to_seq: int | None = None,
    exclude_types: tuple[str, ...] = (),
    limit: int = 10000,
) -> list[dict[str, Any]]:
    query: dict[str, Any] = {"session_id": session_id, "seq": {"$gt": after_seq}}
    if up_to_seq is not None:
        query["seq"]["$lte"] = up_to_seq
    if exclude_types:
        query["type"] = {"$nin": list(exclude_types)}
    cursor = get_db().events.find(query).sort("seq", ASCENDING).limit(limit)
    return [_strip(doc) for doc in cursor]


def events_of_types(session_id: str, types: tuple[str, ...], *, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` events of the given types, oldest first."""
    cursor = get_db().events.find({"session_id": session_id, "type": {"$in": list(types)}}).sort("seq", -1).limit(limit)
    return [_strip(doc) for doc in reversed(list(cursor))]


def last_seq(session_id: str) -> int:
    """The highest stored seq of the session (0 for none), read from the log itself."""
    doc = get_db().events.find_one({"session_id": session_id}, {"seq": 1}, sort=[("seq", DESCENDING)])
    return int(doc["seq"]) if doc else 0


def events_delete(session_id: str) -> None:
    db = get_db()
    db.events.delete_many({"session_id": session_id})
    db.counters.delete_one({"_id": f"events:{session_id}"})  # left by versions that kept a counter
    _heads.forget(session_id)
