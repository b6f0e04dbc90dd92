"""Celery tasks: thin wrappers that take ids and call one service."""

from typing import Any

from celery import shared_task
from celery.app.task import Task
from celery.signals import worker_shutting_down

from .runtime import worker_drain
from .services.run import SessionBusyError, turn_run
from .services.watchdog import turns_requeue_lost, turns_watchdog

BUSY_RETRY_SECONDS = 1.0
BUSY_MAX_RETRIES = 3600


@shared_task(
    name="agents.run_turn",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=BUSY_MAX_RETRIES,
)
def run_turn(self: Task, turn_id: str, session_id: str = "") -> str:
    """Run one chat turn. `session_id` is carried only so Flower shows which session it serves."""
    try:
        return turn_run(turn_id=turn_id)
    except SessionBusyError as exc:
        raise self.retry(exc=exc, countdown=BUSY_RETRY_SECONDS) from exc


@worker_shutting_down.connect
def _hand_over_on_shutdown(**_: Any) -> None:
    """SIGTERM (a deploy, `docker stop`): running agent turns stop at their next safe point and
    are queued again for another worker, instead of being cut off or waited for."""
    worker_drain()


@shared_task(name="agents.turn_watchdog")
def turn_watchdog() -> dict[str, int]:
    return {**turns_watchdog(), "requeued": turns_requeue_lost()}
