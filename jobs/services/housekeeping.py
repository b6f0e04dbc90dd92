"""What happens to jobs at a time rather than on an event: a delayed job's start, a job's
timeout (both Celery tasks with a countdown, see `timers`) and beat's slow safety-net tick,
which catches what a lost message or a crashed worker left behind."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from agents.models import FINISHED_TURN_STATUSES

from ..models import DeliveryStatus, Job, JobStatus, WebhookDelivery
from .actions import _stop_turn
from .deliveries import _schedule_delivery
from .lifecycle import _end, _timed_out, job_dispatch, job_on_turn_end
from .timers import job_timeout_arm, job_wake_arm

logger = logging.getLogger(__name__)

# Ticks may run a little late: arm what falls due within this many tick intervals.
LOOKAHEAD_TICKS = 2


def job_wake(*, job_id: str) -> str:
    """`jobs.wake`: a delayed job whose time has come joins its key's line and is dispatched.
    Returns queued, early (armed again for the rest of its delay) or not_scheduled."""
    job = Job.objects.filter(pk=job_id).only("status", "not_before", "api_key_id").first()
    if job is None or job.status != JobStatus.SCHEDULED:
        return "not_scheduled"
    if job.not_before is not None and job.not_before > timezone.now():
        job_wake_arm(job_id=job_id, not_before=job.not_before)
        return "early"
    if not Job.objects.filter(pk=job_id, status=JobStatus.SCHEDULED).update(status=JobStatus.QUEUED):
        return "not_scheduled"
    job_dispatch(api_key_id=job.api_key_id)
    return "queued"


def job_timeout(*, job_id: str) -> str:
    """`jobs.timeout`: stop a running job past its timeout (its turn's end fails the job).
    Returns stopped, early (armed again) or not_running."""
    job = Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).select_related("session").first()
    if job is None or not job.timeout_s or job.started_at is None:
        return "not_running"
    if not _timed_out(job):
        job_timeout_arm(job_id=job_id, deadline=job.started_at + timedelta(seconds=job.timeout_s))
        return "early"
    _stop_turn(job)
    return "stopped"


def _arm_upcoming(horizon: timedelta) -> int:
    """Arm the timers that fall due before the next ticks and were too far off to be armed by
    their event (beyond JOB_TIMER_MAX_SECONDS, or a webhook retry beyond WEBHOOK_COUNTDOWN_MAX_SECONDS)."""
    now = timezone.now()
    far = timedelta(seconds=settings.JOB_TIMER_MAX_SECONDS)
    window = horizon.total_seconds() + 1
    armed = 0
    delayed = Job.objects.filter(
        status=JobStatus.SCHEDULED,
        not_before__gt=now,
        not_before__lte=now + horizon,
        created_at__lt=F("not_before") - far,  # the submission armed the nearer ones
    )
    for job in delayed.only("pk", "not_before")[:1000]:
        if job.not_before is not None:
            armed += job_wake_arm(job_id=str(job.pk), not_before=job.not_before, within=window)
    long_running = Job.objects.filter(
        status=JobStatus.RUNNING, timeout_s__gt=settings.JOB_TIMER_MAX_SECONDS, started_at__isnull=False
    )
    for job in long_running.only("pk", "started_at", "timeout_s")[:1000]:
        if job.started_at is None or not job.timeout_s:
            continue
        deadline = job.started_at + timedelta(seconds=job.timeout_s)
        if now < deadline <= now + horizon:
            armed += job_timeout_arm(job_id=str(job.pk), deadline=deadline, within=window)
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    retries = WebhookDelivery.objects.filter(
        status=DeliveryStatus.PENDING, next_attempt_at__gt=now, next_attempt_at__lte=now + horizon
    )
    for delivery in retries.only("id", "attempt_count", "next_attempt_at")[:1000]:
        number, due = delivery.attempt_count, delivery.next_attempt_at
        # Retries up to WEBHOOK_COUNTDOWN_MAX_SECONDS were sent with their countdown already.
        if (
            due is not None
            and 0 < number <= len(schedule)
            and schedule[number - 1] > settings.WEBHOOK_COUNTDOWN_MAX_SECONDS
        ):
            _schedule_delivery(str(delivery.pk), countdown=(due - now).total_seconds())
            armed += 1
    return armed


def jobs_tick() -> dict[str, int]:
    """Beat's safety net, every JOBS_TICK_SECONDS: queue overdue delayed jobs, end jobs whose
    turn ended unseen, stop jobs past their timeout, start queued jobs that fit, send webhook
    retries that are due — each normally done on time by its own event or timer — and arm the
    far-off timers that fall due before the next ticks."""
    counts = {"reconciled": 0, "timed_out": 0, "started": 0, "webhooks": 0, "due": 0, "armed": 0}
    # Delayed jobs (`after_seconds`) whose time has come join their key's line.
    due_ids = list(
        Job.objects.filter(status=JobStatus.SCHEDULED, not_before__lte=timezone.now()).values_list("pk", flat=True)[
            :1000
        ]
    )
    if due_ids:
        counts["due"] = Job.objects.filter(pk__in=due_ids, status=JobStatus.SCHEDULED).update(status=JobStatus.QUEUED)
    running = Job.objects.filter(status=JobStatus.RUNNING).select_related("turn", "session")
    for job in running:
        if job.turn is not None and job.turn.status in FINISHED_TURN_STATUSES:
            job_on_turn_end(turn_id=str(job.turn_id), status=job.turn.status)
            counts["reconciled"] += 1
        elif job.session is None:
            counts["reconciled"] += _end(job.pk, JobStatus.CANCELLED, error="The job's session was deleted.")
        elif _timed_out(job):
            _stop_turn(job)
            counts["timed_out"] += 1
    for api_key_id in Job.objects.filter(status=JobStatus.QUEUED).values_list("api_key_id", flat=True).distinct():
        counts["started"] += job_dispatch(api_key_id=api_key_id)
    due = WebhookDelivery.objects.filter(
        Q(next_attempt_at__lte=timezone.now()) | Q(next_attempt_at__isnull=True), status=DeliveryStatus.PENDING
    ).values_list("id", flat=True)
    for delivery_id in due[:500]:
        _schedule_delivery(str(delivery_id), countdown=0)
        counts["webhooks"] += 1
    counts["armed"] = _arm_upcoming(timedelta(seconds=settings.JOBS_TICK_SECONDS * LOOKAHEAD_TICKS))
    return counts
