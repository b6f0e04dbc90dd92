"""The MongoDB adapter of the ground, beside `redis_client.py`: the one place that creates a
pymongo client. It knows no collection: an app that needs indexes registers a setup function
with `on_connect` (from its AppConfig.ready()), run once for every new client."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from django.conf import settings
from pymongo import MongoClient
from pymongo.database import Database

DatabaseSetup = Callable[[Database], None]

_lock = threading.Lock()
_state: dict[str, object] = {}
_setups: list[DatabaseSetup] = []


def on_connect(setup: DatabaseSetup) -> None:
    """Run `setup(db)` for every client this process creates (indexes, ...); idempotent."""
    with _lock:
        if setup in _setups:
            return
        _setups.append(setup)
        db = _state.get("db")
    if isinstance(db, Database):
        setup(db)  # a client already exists: it gets the setup now


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
                for setup in _setups:
                    setup(database)
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
