"""Celery tasks of jobs: thin wrappers that take ids and call one service."""

from celery import shared_task

from .schedules import schedules_tick
from .services import jobs_retention_sweep, jobs_tick, webhook_attempt


@shared_task(name="jobs.webhook_deliver")
def webhook_deliver(delivery_id: str) -> str:
    """One attempt of a webhook delivery; the service schedules the next one on failure
    (the delivery row holds the retry schedule, so nothing here retries)."""
    return webhook_attempt(delivery_id=delivery_id)


@shared_task(name="jobs.tick")
def jobs_tick_task() -> dict[str, int]:
    return jobs_tick()


@shared_task(name="jobs.schedules_tick")
def schedules_tick_task() -> dict[str, int]:
    return schedules_tick()


@shared_task(name="jobs.retention_sweep")
def jobs_retention_sweep_task() -> int:
    return jobs_retention_sweep()
