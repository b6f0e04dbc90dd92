"""Beat's safety net for jobs: due delayed jobs, turns that ended unseen, timeouts, dispatch, due webhook retries."""

from __future__ import annotations

import logging

from django.db.models import Q
from django.utils import timezone

from agents.models import FINISHED_TURN_STATUSES

from ..models import DeliveryStatus, Job, JobStatus, WebhookDelivery
from .actions import _stop_turn
from .deliveries import _schedule_delivery
from .lifecycle import _end, _timed_out, job_dispatch, job_on_turn_end

logger = logging.getLogger(__name__)


def jobs_tick() -> dict[str, int]:
    """Beat, every few seconds: end jobs whose turn ended unseen, stop jobs past their timeout,
    start queued jobs that fit, and send webhook retries that are due."""
    counts = {"reconciled": 0, "timed_out": 0, "started": 0, "webhooks": 0, "due": 0}
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
    return counts
