"""Celery tasks: thin wrappers that take ids and call one service."""

from celery import shared_task
from celery.app.task import Task

from .services import SessionBusyError, turn_run, turns_watchdog

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


@shared_task(name="agents.turn_watchdog")
def turn_watchdog() -> dict[str, int]:
    return turns_watchdog()
