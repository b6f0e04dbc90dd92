"""The one Redis client of a process (locks, stop flags). Channels and Celery keep their own."""

import os
import threading

import redis
from django.conf import settings

_lock = threading.Lock()
_client: tuple[int, redis.Redis] | None = None


def get_redis() -> redis.Redis:
    """A thread-safe client, created lazily and re-created after a fork."""
    global _client
    pid = os.getpid()
    if _client is None or _client[0] != pid:
        with _lock:
            if _client is None or _client[0] != pid:
                client = redis.Redis.from_url(
                    settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=3, health_check_interval=30
                )
                _client = (pid, client)
    return _client[1]
