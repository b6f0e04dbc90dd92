"""The event log: every event of a session, in `seq` order, in MongoDB.

How a seq is assigned (one round trip in the steady state, no lock, no counter document):
the writer inserts the event with `seq = head + 1`, where `head` is the highest seq it
knows to be stored for the session; the unique index on `(session_id, seq)` lets exactly
one writer have each seq. A writer that loses (a duplicate key on the seq) reads the real
head from the log and tries again. `head` is only ever learnt from the log itself (a read,
or this process's own acknowledged insert), and a batch is inserted in order, stopping at
the first refusal, so:

    a writer inserts seq n only after it has seen seq n-1 stored.

Hence the log is always a gapless prefix: whoever sees seq n in the log (or live, since
events are sent after they are stored) finds every seq below n in the log too. Readers
rely on that to fill a jump from the log (`streams.py`). It holds across threads,
processes and machines; within a process, concurrent publishers share one batched insert
(`_GroupCommit`), so they neither race each other for a seq nor pay a round trip each.

Dedupe keys: the insert carries the key, and a partial unique index on
`(session_id, dedupe_key)` refuses a second event with it; the stored one is returned.
Events without a key never pay for a lookup.

Discarded events (a rolled-back turn's, `events_discard`) keep their seq and stay stored,
marked `discarded`, so seqs are never reused; every read below skips them, except
`last_seq`, which is where the next seq comes from. A reader that follows the log sees the
gap they leave, which it treats like any other: the log holds everything below it that is
still to be read.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import BulkWriteError

from anker_project.mongo import get_db

# How many sessions' heads a process remembers; a forgotten one costs one read.
_HEADS_MAX = 10_000
# Losing the race for a seq this many times in a row means something is badly wrong.
_MAX_SEQ_RETRIES = 100
_DUPLICATE_KEY = 11000


class SeqContentionError(Exception):
    """A writer kept losing the race for the next seq of a session."""


class _Heads:
    """This process's knowledge of each session's highest stored seq (bounded, least recent out)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._heads: OrderedDict[str, int] = OrderedDict()

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


# Matches every event that was not discarded by a rollback.
_KEPT: dict[str, Any] = {"discarded": {"$ne": True}}


def _strip(doc: dict[str, Any]) -> dict[str, Any]:
    doc.pop("_id", None)
    doc.pop("discarded", None)
    doc.pop("session_id", None)
    doc.pop("dedupe_key", None)
    return doc


def event_find_by_dedupe_key(session_id: str, dedupe_key: str) -> dict[str, Any] | None:
    doc = get_db().events.find_one({"session_id": session_id, "dedupe_key": dedupe_key})
    return _strip(doc) if doc else None


class _Pending:
    """One event waiting to be stored by the batch it joins."""

    __slots__ = ("dedupe_key", "done", "dump", "error", "new", "session_id", "stored")

    def __init__(self, session_id: str, dump: dict[str, Any], dedupe_key: str | None) -> None:
        self.session_id, self.dump, self.dedupe_key = session_id, dump, dedupe_key
        self.stored: dict[str, Any] = {}
        self.new = False
        self.done = False
        self.error: BaseException | None = None


class _GroupCommit:
    """Stores the events of a process's concurrent publishers in one `insert_many` per batch.

    The first caller to find no write in progress becomes the writer: it takes every event
    queued so far (its own included), stores them, and wakes their callers; events queued
    meanwhile form the next batch. One publisher alone pays one insert, as before; many pay
    one round trip between them. Being the only writer of the process at a time, the
    writer needs no per-session lock. Within a batch a session's events keep their order
    (an ordered insert stops at the first refusal, so seq n is never stored without n-1).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: list[_Pending] = []
        self._writing = False

    def submit(self, pending: _Pending) -> None:
        with self._cond:
            self._queue.append(pending)
            while not pending.done and self._writing:
                self._cond.wait()
            if pending.done:
                return
            self._writing = True
            batch, self._queue = self._queue, []
        try:
            _store_batch(batch)
        except BaseException as exc:
            for item in batch:
                if not item.done:
                    item.error, item.done = exc, True
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


_group_commit = _GroupCommit()


def _store_batch(batch: list[_Pending]) -> None:
    events = get_db().events
    remaining = batch
    for _ in range(_MAX_SEQ_RETRIES):
        heads: dict[str, int] = {}
        docs: list[dict[str, Any]] = []
        for item in remaining:
            head = heads.get(item.session_id)
            if head is None:
                head = _heads.get(item.session_id)
                if head is None:
                    head = last_seq(item.session_id)
            seq = heads[item.session_id] = head + 1
            item.stored = {**item.dump, "seq": seq, "event_id": str(seq)}
            doc: dict[str, Any] = {**item.stored, "session_id": item.session_id}
            if item.dedupe_key is not None:
                doc["dedupe_key"] = item.dedupe_key
            docs.append(doc)
        try:
            events.insert_many(docs, ordered=True)
            inserted, refused = len(docs), None
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors") or []
            if not errors or errors[0].get("code") != _DUPLICATE_KEY:
                raise
            inserted = int(errors[0]["index"])
            refused = remaining[inserted]
        for item in remaining[:inserted]:
            item.new, item.done = True, True
            _heads.set(item.session_id, item.stored["seq"])
        if refused is None:
            return
        existing = event_find_by_dedupe_key(refused.session_id, refused.dedupe_key) if refused.dedupe_key else None
        if existing is not None:
            refused.stored, refused.new, refused.done = existing, False, True
        else:
            _heads.set(refused.session_id, last_seq(refused.session_id))  # another writer took the seq
        remaining = [item for item in remaining[inserted:] if not item.done]
        if not remaining:
            return
    for item in remaining:
        _heads.forget(item.session_id)
    raise SeqContentionError(f"lost the race for the next seq {_MAX_SEQ_RETRIES} times in a row")


def event_append(
    session_id: str, dump: dict[str, Any], *, dedupe_key: str | None = None
) -> tuple[dict[str, Any], bool]:
    """Store `dump` with the session's next seq. Returns the stored event and whether it is new.

    With a `dedupe_key` already stored for the session, nothing is written and the stored
    event is returned with `False`.
    """
    pending = _Pending(session_id, dump, dedupe_key)
    _group_commit.submit(pending)
    if pending.error is not None:
        raise pending.error
    return pending.stored, pending.new


def events_after(
    session_id: str,
    after_seq: int,
    *,
    up_to_seq: int | None = None,
    exclude_types: tuple[str, ...] = (),
    limit: int = 10000,
) -> list[dict[str, Any]]:
    query: dict[str, Any] = {"session_id": session_id, "seq": {"$gt": after_seq}, **_KEPT}
    if up_to_seq is not None:
        query["seq"]["$lte"] = up_to_seq
    if exclude_types:
        query["type"] = {"$nin": list(exclude_types)}
    cursor = get_db().events.find(query).sort("seq", ASCENDING).limit(limit)
    return [_strip(doc) for doc in cursor]


def events_of_types(session_id: str, types: tuple[str, ...], *, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` events of the given types, oldest first."""
    query = {"session_id": session_id, "type": {"$in": list(types)}, **_KEPT}
    cursor = get_db().events.find(query).sort("seq", -1).limit(limit)
    return [_strip(doc) for doc in reversed(list(cursor))]


def last_seq(session_id: str) -> int:
    """The highest stored seq of the session (0 for none), read from the log itself."""
    doc = get_db().events.find_one({"session_id": session_id}, {"seq": 1}, sort=[("seq", DESCENDING)])
    return int(doc["seq"]) if doc else 0


# How many sessions one `heads_past` query asks about, and how far apart their known heads
# may be (a query asks from the lowest: the others' older events come back, and are skipped).
_HEADS_PAST_SESSIONS = 500
_HEADS_PAST_SPREAD = 50


def heads_past(seen: dict[str, int]) -> dict[str, int]:
    """Of the sessions in `seen`, those whose log holds a seq above `seen[session]`, with the
    highest such seq. Sessions with similar heads share one indexed `$in` read (`$or` would
    cost the embedded store a scan per clause), which usually matches nothing."""
    found: dict[str, int] = {}
    ordered = sorted(seen.items(), key=lambda item: item[1])
    start = 0
    while start < len(ordered):
        low = ordered[start][1]
        end = start
        while end < len(ordered) and end - start < _HEADS_PAST_SESSIONS and ordered[end][1] - low <= _HEADS_PAST_SPREAD:
            end += 1
        group = ordered[start:end]
        start = end
        query = {"session_id": {"$in": [sid for sid, _ in group]}, "seq": {"$gt": low}}
        for doc in get_db().events.find(query, {"_id": 0, "session_id": 1, "seq": 1}):
            sid, seq = doc["session_id"], int(doc["seq"])
            if seq > seen[sid]:
                found[sid] = max(found.get(sid, 0), seq)
    return found


def events_discard(session_id: str, *, turn_ids: list[str], from_seq: int, to_seq: int) -> int:
    """Mark the events of `turn_ids` with a seq in `from_seq`..`to_seq` discarded; returns how many
    were marked. They keep their seqs (never reused) and no read returns them any more."""
    result = get_db().events.update_many(
        {"session_id": session_id, "turn_id": {"$in": turn_ids}, "seq": {"$gte": from_seq, "$lte": to_seq}},
        {"$set": {"discarded": True}},
    )
    return int(result.modified_count)


def events_discarded_count(
    session_id: str, *, turn_ids: list[str], from_seq: int, to_seq: int, type_: str, role: str
) -> int:
    """How many discarded events of `turn_ids` in the range have this type and role."""
    return int(
        get_db().events.count_documents(
            {
                "session_id": session_id,
                "turn_id": {"$in": turn_ids},
                "seq": {"$gte": from_seq, "$lte": to_seq},
                "type": type_,
                "role": role,
                "discarded": True,
            }
        )
    )


def events_delete(session_id: str) -> None:
    db = get_db()
    db.events.delete_many({"session_id": session_id})
    db.counters.delete_one({"_id": f"events:{session_id}"})  # left by versions that kept a counter
    _heads.forget(session_id)
