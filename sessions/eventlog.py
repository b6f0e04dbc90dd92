"""The event log: every event of a session, in `seq` order, in MongoDB.

`seq` comes from a per-session counter document created with the session and bumped
with `$inc` (no upsert under contention: see reference/infra.md, addendum). Writers hold
the session's publish lock (`publisher.py`), so seqs are inserted in order.
"""

import contextlib
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from .mongo import get_db


def counter_create(session_id: str) -> None:
    with contextlib.suppress(DuplicateKeyError):
        get_db().counters.insert_one({"_id": f"events:{session_id}", "seq": 0})


def _next_seq(session_id: str) -> int:
    counters = get_db().counters
    key = f"events:{session_id}"
    doc = counters.find_one_and_update({"_id": key}, {"$inc": {"seq": 1}}, return_document=ReturnDocument.AFTER)
    if doc is None:  # a session created while the log was unreachable
        counter_create(session_id)
        doc = counters.find_one_and_update({"_id": key}, {"$inc": {"seq": 1}}, return_document=ReturnDocument.AFTER)
    assert doc is not None
    return int(doc["seq"])


def _strip(doc: dict[str, Any]) -> dict[str, Any]:
    doc.pop("_id", None)
    doc.pop("session_id", None)
    doc.pop("dedupe_key", None)
    return doc


def event_find_by_dedupe_key(session_id: str, dedupe_key: str) -> dict[str, Any] | None:
    doc = get_db().events.find_one({"session_id": session_id, "dedupe_key": dedupe_key})
    return _strip(doc) if doc else None


def event_append(session_id: str, dump: dict[str, Any], *, dedupe_key: str | None = None) -> dict[str, Any]:
    """Assign the next seq to `dump`, store it and return it. The caller holds the publish lock."""
    seq = _next_seq(session_id)
    dump = {**dump, "seq": seq, "event_id": str(seq)}
    doc: dict[str, Any] = {**dump, "session_id": session_id}
    if dedupe_key is not None:
        doc["dedupe_key"] = dedupe_key
    get_db().events.insert_one(doc)
    return dump


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
    doc = get_db().counters.find_one({"_id": f"events:{session_id}"})
    return int(doc["seq"]) if doc else 0


def events_delete(session_id: str) -> None:
    db = get_db()
    db.events.delete_many({"session_id": session_id})
    db.counters.delete_one({"_id": f"events:{session_id}"})
