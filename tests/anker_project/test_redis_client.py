"""The process's Redis client waits for a connection when all of its pool's are in use, instead of
failing the command (redis-py's default pool raises MaxConnectionsError past its size). Real Redis."""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

import pytest
import redis

from anker_project import redis_client


def test_a_command_past_the_pool_size_waits_for_a_connection_instead_of_failing(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a client of 2 connections, both busy with a blocking read of 1 s
    settings.REDIS_MAX_CONNECTIONS = 2
    monkeypatch.setattr(redis_client, "_client", None)
    client = redis_client.get_redis()
    key = f"anker:test:redis-pool:{secrets.token_hex(4)}"
    errors: list[BaseException] = []

    def blocking_read() -> None:
        try:
            client.blpop([f"{key}:empty"], timeout=1)
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=blocking_read) for _ in range(2)]
    for reader in readers:
        reader.start()
    watcher = redis.Redis.from_url(settings.REDIS_URL)
    deadline = time.monotonic() + 5
    while sum(c.get("cmd") == "blpop" for c in watcher.client_list()) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)

    # When a third command is sent
    try:
        assert client.set(key, "written", ex=60) is True
        # Then it ran once a connection was free, and nothing failed
        assert client.get(key) == b"written"
    finally:
        for reader in readers:
            reader.join(timeout=10)
        client.delete(key)
        client.connection_pool.disconnect()
        watcher.close()
    assert errors == []
