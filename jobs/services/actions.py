"""What a job's caller does to it: cancel (one or many), approve, reply, delete; and the retention sweep."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents.models import FINISHED_TURN_STATUSES, Turn
from agents.reach.approvals import approval_pending_of_session
from agents.reach.decisions import approval_decide
from agents.services import session_delete_with_work, turn_stop
from anker_project.errors import ApplicationError, ConflictError, NotFoundError

from ..models import ENDED_JOB_STATUSES, Job, JobStatus
from .lifecycle import JOBS_QUEUE, _end, job_dispatch, job_on_turn_end
from .timers import job_timeout_arm

logger = logging.getLogger(__name__)


def _stop_turn(job: Job) -> None:
    """Stop the job's current turn; a turn no worker started ends here, a running one at its
    next safe point (its end then ends the job)."""
    if job.session is None:
        return
    turn_stop(session_id=job.session.id)
    if job.turn_id is not None:
        turn = Turn.objects.filter(pk=job.turn_id).only("status").first()
        if turn is not None and turn.status in FINISHED_TURN_STATUSES:
            job_on_turn_end(turn_id=str(job.turn_id), status=turn.status)


def _job(job_id: str) -> Job:
    """The job the caller named (its API already checked that the caller may see it)."""
    job = Job.objects.select_related("session", "api_key").filter(pk=job_id).first()
    if job is None:
        raise NotFoundError("Job not found")
    return job


def job_cancel(*, job_id: str) -> Job:
    """Cancel a job. Queued and waiting jobs end at once; a running one when its turn stops."""
    job = _job(job_id)
    if job.status in ENDED_JOB_STATUSES:
        raise ConflictError(f"The job already ended ({job.status})")
    Job.objects.filter(pk=job.pk, cancel_requested_at__isnull=True).update(cancel_requested_at=timezone.now())
    if job.status == JobStatus.RUNNING:
        _stop_turn(job)
    else:
        if _end(job.pk, JobStatus.CANCELLED) and job.status == JobStatus.WAITING and job.session is not None:
            turn_stop(session_id=job.session.id)  # the session ends `stopped`
    job.refresh_from_db()
    return job


def job_approve(*, job_id: str, approve: bool, note: str = "") -> Job:
    """Decide the tool call a waiting job asks approval for; an approved call runs, a denied one
    goes back to the model as denied. The job runs again at once, outside its key's queue: it was already started."""
    job = _job(job_id)
    pending = approval_pending_of_session(session_id=job.session_id) if job.session_id else None
    if job.status != JobStatus.WAITING or pending is None or job.session is None:
        raise ConflictError("The job is not waiting for an approval")
    with transaction.atomic():
        if not Job.objects.filter(pk=job.pk, status=JobStatus.WAITING).update(status=JobStatus.RUNNING, result=None):
            raise ConflictError("The job is not waiting for an approval")
        # The turn is enqueued when this block commits, after the job points at it.
        _approval, turn = approval_decide(
            session_id=job.session.id, tool_call_id=pending.tool_call_id, approve=approve, note=note, queue=JOBS_QUEUE
        )
        Job.objects.filter(pk=job.pk).update(turn=turn)
        if job.timeout_s and job.started_at is not None:
            job_timeout_arm(job_id=str(job.pk), deadline=job.started_at + timedelta(seconds=job.timeout_s))
    job.refresh_from_db()
    return job


BULK_CANCEL_STATUSES = {
    "scheduled": [JobStatus.SCHEDULED],
    "queued": [JobStatus.SCHEDULED, JobStatus.QUEUED],
    "running": [JobStatus.RUNNING, JobStatus.WAITING],
    "all": [JobStatus.SCHEDULED, JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.WAITING],
}


def jobs_cancel_many(*, api_key_id: str, job_ids: Sequence[str] = (), status: str | None = None) -> list[Job]:
    """Cancel the key's jobs named by `job_ids`, or every job of the key in `status`
    (`scheduled`, `queued` — scheduled included —, `running` — waiting included — or `all`).

    Ids of other keys' jobs and ids of jobs that already ended are left out (not an error:
    the answer lists what was cancelled). Returns the jobs cancelled, newest first."""
    jobs = Job.objects.filter(api_key_id=api_key_id, status__in=BULK_CANCEL_STATUSES["all"])
    if job_ids:
        jobs = jobs.filter(pk__in=list(job_ids))
    if status is not None:
        jobs = jobs.filter(status__in=BULK_CANCEL_STATUSES[status])
    cancelled = []
    for job_id in jobs.order_by("-created_at").values_list("pk", flat=True)[: settings.JOB_BULK_CANCEL_MAX]:
        try:
            cancelled.append(job_cancel(job_id=str(job_id)))
        except ConflictError:  # ended meanwhile
            continue
    return cancelled


def job_delete(*, job_id: str) -> None:
    """Delete an ended job with its session (event log, memory, files, sandbox) and webhooks."""
    job = _job(job_id)
    if job.status not in ENDED_JOB_STATUSES:
        raise ConflictError(f"Only an ended job can be deleted; this one is {job.status}. Cancel it first.")
    session = job.session
    with transaction.atomic():
        Job.objects.filter(pk=job.pk).delete()
    if session is not None:
        session_delete_with_work(session_id=session.id)


def jobs_retention_sweep() -> int:
    """Beat, hourly: delete ended jobs (with their sessions) older than JOB_RETENTION_DAYS.
    0 keeps them forever. Returns how many were deleted."""
    days = settings.JOB_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=days)
    old = Job.objects.filter(status__in=ENDED_JOB_STATUSES, finished_at__lt=cutoff).select_related("session")
    deleted = 0
    for job in old[:500]:
        job_delete(job_id=str(job.pk))
        deleted += 1
    return deleted


def job_reply(*, job_id: str, message: str) -> Job:
    """Answer a waiting job: its next turn gets `message`, when its key has a free slot."""
    job = _job(job_id)
    if not message.strip():
        raise ApplicationError("message must not be empty")
    if not Job.objects.filter(pk=job.pk, status=JobStatus.WAITING).update(
        status=JobStatus.QUEUED, pending_message=message, result=None
    ):
        raise ConflictError("The job is not waiting for a reply")
    job_dispatch(api_key_id=job.api_key_id)
    job.refresh_from_db()
    return job
