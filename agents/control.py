"""Signals between the API and running turns, kept in Redis: stop requests and the session lock."""

from django.conf import settings
from redis.lock import Lock

from anker_project.redis_client import get_redis

STOP_KEY_SECONDS = 3600


class StopReason:
    STOP = "stop"  # the user pressed stop
    INTERRUPT = "interrupt"  # a newer message replaces this turn
    ROLLBACK = "rollback"  # a newer message replaces this turn, and what it did is discarded
    DELETED = "deleted"  # the session is being deleted


def turn_stop_request(turn_id: str, reason: str) -> None:
    get_redis().set(f"anker:stop:{turn_id}", reason, ex=STOP_KEY_SECONDS)


def turn_stop_reason(turn_id: str) -> str | None:
    value = get_redis().get(f"anker:stop:{turn_id}")
    return value.decode() if isinstance(value, bytes) else value


def session_turn_lock(session_id: str) -> Lock:
    """Held by the turn running in a session; its heartbeat extends it. It lasts TURN_LOCK_SECONDS:
    long enough to outlive a missed heartbeat or two, short enough to expire soon after a worker dies."""
    return get_redis().lock(f"anker:turn-lock:{session_id}", timeout=settings.TURN_LOCK_SECONDS, thread_local=False)
