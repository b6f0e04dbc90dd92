"""The MongoDB adapter: the one place that creates a pymongo client."""

import os
import threading

from django.conf import settings
from pymongo import ASCENDING, MongoClient
from pymongo.database import Database

_lock = threading.Lock()
_state: dict[str, object] = {}


def get_db() -> Database:
    """The Anker database, from a client created lazily per process (pymongo is not fork-safe)."""
    pid = os.getpid()
    if _state.get("pid") != pid:
        with _lock:
            if _state.get("pid") != pid:
                client: MongoClient = MongoClient(
                    settings.MONGODB_URL,
                    serverSelectionTimeoutMS=5000,
                    connectTimeoutMS=5000,
                    socketTimeoutMS=30000,
                    tz_aware=True,
                )
                database = client[settings.MONGODB_DATABASE]
                _ensure_indexes(database)
                _state.update(pid=pid, client=client, db=database)
    db = _state["db"]
    assert isinstance(db, Database)
    return db


def reset() -> None:
    """Forget the client (tests point settings at another server)."""
    with _lock:
        client = _state.get("client")
        if isinstance(client, MongoClient):
            client.close()
        _state.clear()


def _ensure_indexes(db: Database) -> None:
    db.events.create_index([("session_id", ASCENDING), ("seq", ASCENDING)], unique=True)
    db.events.create_index(
        [("session_id", ASCENDING), ("dedupe_key", ASCENDING)],
        unique=True,
        partialFilterExpression={"dedupe_key": {"$type": "string"}},
    )
