"""Redis, the Channels layer and the event log (MongoDB)."""

from urllib.parse import quote

from .env import EMBEDDED_MONGO_PORT, EMBEDDED_REDIS_PORT, embedded_redis_password, env, env_or

_embedded_auth = f":{quote(embedded_redis_password(), safe='')}@" if embedded_redis_password() else ""
REDIS_URL = env_or("REDIS_URL", f"redis://{_embedded_auth}127.0.0.1:{EMBEDDED_REDIS_PORT}/0")
# Connections of a process's own Redis client (locks, stop flags, live events) at most; past it a
# command waits for one (anker_project/redis_client.py).
REDIS_MAX_CONNECTIONS = env.int("REDIS_MAX_CONNECTIONS", default=200)

CHANNEL_LAYER_MAX_CONNECTIONS = env.int("CHANNEL_LAYER_MAX_CONNECTIONS", default=1000)
# Longer than channels-redis's 5 s blocking receive, so a quiet channel is never a read timeout.
CHANNEL_LAYER_SOCKET_TIMEOUT = 30.0
CHANNEL_LAYER_PREFIX = env.str("CHANNEL_LAYER_PREFIX", default="anker")
# Session events travel on Redis pub/sub channels named this plus the session id
# (sessions/live.py); pub/sub ignores the database number, so the prefix keeps deployments
# sharing one Redis apart.
EVENT_CHANNEL_PREFIX = f"{CHANNEL_LAYER_PREFIX}.events."

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py's pools refuse (rather than wait) past max_connections, default 100: a
            # burst of readers subscribing at once needs more.
            # channels-redis waits for a message with a 5 s BZPOPMIN, and redis-py 8 reads with a
            # 5 s socket timeout by default: a receive that waited the whole 5 s raced its own
            # reply and failed with "Timeout reading" (VNC relays, consumers idle for 5 s).
            "hosts": [
                {
                    "address": REDIS_URL,
                    "max_connections": CHANNEL_LAYER_MAX_CONNECTIONS,
                    "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT,
                }
            ],
            "prefix": CHANNEL_LAYER_PREFIX,
            # Readers de-duplicate and backfill from the log, so a dropped message costs
            # latency, never an event; a roomy capacity keeps drops rare.
            "capacity": 2000,
            "expiry": 60,
        },
    }
}

MONGODB_URL = env_or("MONGODB_URL", f"mongodb://127.0.0.1:{EMBEDDED_MONGO_PORT}")
MONGODB_DATABASE = env_or("MONGODB_DATABASE", "anker")

# How often each web process's hub checks the event log, in one read for all its watched
# sessions, for an event stored but never sent (its publisher died before the PUBLISH): the
# most such an event is late. Readers of a quiet session do not read the log themselves.
STREAM_POLL_SECONDS = env.float("STREAM_POLL_SECONDS", default=5.0)
# A streamed answer reaches readers in frames: the first token at once, then at most every
# STREAM_FLUSH_MS or every STREAM_FLUSH_CHARS characters, whichever comes first.
STREAM_FLUSH_MS = env.float("STREAM_FLUSH_MS", default=50.0)
STREAM_FLUSH_CHARS = env.int("STREAM_FLUSH_CHARS", default=256)
SSE_HEARTBEAT_SECONDS = env.float("SSE_HEARTBEAT_SECONDS", default=15.0)
SSE_MAX_SECONDS = env.int("SSE_MAX_SECONDS", default=3600)
