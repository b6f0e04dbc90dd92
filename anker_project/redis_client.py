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
                # A blocking pool: past REDIS_MAX_CONNECTIONS a command waits (up to 10 s) for a
                # connection. redis-py's default pool raises MaxConnectionsError past 100 at once,
                # which a worker with 120 turns in flight (each with its stop checks, publishes
                # and lock-renewing heartbeat) hit under load: turns failed.
                pool = redis.BlockingConnectionPool.from_url(
                    settings.REDIS_URL,
                    max_connections=settings.REDIS_MAX_CONNECTIONS,
                    timeout=10,
                    socket_timeout=5,
                    socket_connect_timeout=3,
                    health_check_interval=30,
                )
                client = redis.Redis(connection_pool=pool)
                _client = (pid, client)
    return _client[1]
