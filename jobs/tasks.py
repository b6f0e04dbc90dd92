"""Celery tasks of jobs: thin wrappers that take ids and call one service."""

from celery import shared_task

from .schedules import schedule_due, schedule_job_ended, schedules_tick
from .services import job_start, job_timeout, job_wake, jobs_retention_sweep, jobs_tick, webhook_attempt


@shared_task(name="jobs.webhook_deliver")
def webhook_deliver(delivery_id: str) -> str:
    """One attempt of a webhook delivery; the service schedules the next one on failure
    (the delivery row holds the retry schedule, so nothing here retries)."""
    return webhook_attempt(delivery_id=delivery_id)


@shared_task(name="jobs.start", acks_late=True)
def job_start_task(job_id: str) -> str:
    """A submitted job's start (its turn row, first events, the turn's enqueue), sent on the
    `jobs` queue when the submission commits. Idempotent: a job no longer `queued` is left
    alone, so a redelivery (acks_late) or beat's tick starting it first costs a no-op."""
    return job_start(job_id=job_id)


@shared_task(name="jobs.tick")
def jobs_tick_task() -> dict[str, int]:
    return jobs_tick()


@shared_task(name="jobs.wake")
def job_wake_task(job_id: str) -> str:
    """A delayed job's start, sent with a countdown at submission (idempotent)."""
    return job_wake(job_id=job_id)


@shared_task(name="jobs.timeout")
def job_timeout_task(job_id: str) -> str:
    """A running job's timeout, sent with a countdown when it starts (idempotent)."""
    return job_timeout(job_id=job_id)


@shared_task(name="jobs.schedules_tick")
def schedules_tick_task() -> dict[str, int]:
    return schedules_tick()


@shared_task(name="jobs.schedule_due")
def schedule_due_task(schedule_id: str, fire_at: str) -> str:
    """One fire of a schedule, sent with a countdown to its fire time (idempotent)."""
    return schedule_due(schedule_id=schedule_id, fire_at=fire_at)


@shared_task(name="jobs.schedule_job_ended")
def schedule_job_ended_task(schedule_id: str) -> bool:
    return schedule_job_ended(schedule_id=schedule_id)


@shared_task(name="jobs.retention_sweep")
def jobs_retention_sweep_task() -> int:
    return jobs_retention_sweep()
