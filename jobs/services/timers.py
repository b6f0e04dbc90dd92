"""Timers of jobs: a delayed job's start and a running job's timeout are Celery tasks with a
countdown, armed by the event that sets the time (the submission, the start).

The tasks are idempotent (they act only if the job is still in the state the timer was for
and its time has come), so a timer armed twice costs one no-op task. A timer further off than
JOB_TIMER_MAX_SECONDS is not armed here: a Redis broker hands a countdown task out again
after its visibility timeout, so beat's slow safety-net tick arms it when it comes near, and
moves whatever is overdue (a timer lost with the broker) itself."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

TIMERS_QUEUE = "default"


def _arm(task_name: str, job_id: str, due: datetime, within: float | None) -> bool:
    """Send `task_name(job_id=…)` to run at `due` once the current transaction commits.
    False (nothing sent) when `due` is more than `within` seconds off (JOB_TIMER_MAX_SECONDS
    by default)."""
    from .. import tasks

    delay = max(0.0, (due - timezone.now()).total_seconds())
    if delay > (settings.JOB_TIMER_MAX_SECONDS if within is None else within):
        return False
    task = getattr(tasks, task_name)
    transaction.on_commit(lambda: task.apply_async(kwargs={"job_id": job_id}, countdown=delay, queue=TIMERS_QUEUE))
    return True


def job_wake_arm(*, job_id: str, not_before: datetime, within: float | None = None) -> bool:
    """A `scheduled` job joins its key's line at `not_before` (`jobs.wake`)."""
    return _arm("job_wake_task", job_id, not_before, within)


def job_timeout_arm(*, job_id: str, deadline: datetime, within: float | None = None) -> bool:
    """A running job is stopped at `deadline` (`jobs.timeout`)."""
    return _arm("job_timeout_task", job_id, deadline, within)
