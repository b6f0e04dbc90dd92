"""A job's life after submission: its start, dispatch (fairness per key) and its turn's end.

Status changes are compare-and-set on `Job.status`. A submission commits the job `queued` and
sends `jobs.start` (`job_start_enqueue`); the worker starts it (`job_start`: the turn row, its
first events, the turn's enqueue). A job's turns run on the `jobs` queue; a key's concurrency
limit keeps what is over it `queued` (no turn yet) until the dispatcher starts it, by priority
then age."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from agents.models import Turn, TurnStatus
from agents.multitask import DEFAULT_MULTITASK_STRATEGY, MultitaskStrategy
from agents.services import chat_send
from anker_project.errors import ApplicationError
from anker_project.redis_client import get_redis
from sessions import eventlog
from sessions.services import session_announce

from ..models import ENDED_JOB_STATUSES, Job, JobApiKey, JobStatus, ScheduleRun
from .deliveries import webhook_enqueue
from .timers import job_timeout_arm

logger = logging.getLogger(__name__)

JOBS_QUEUE = "jobs"
# What a turn's end means for its job.
TURN_TO_JOB = {
    TurnStatus.COMPLETED: JobStatus.SUCCEEDED,
    TurnStatus.WAITING: JobStatus.WAITING,
    TurnStatus.FAILED: JobStatus.FAILED,
    TurnStatus.CANCELLED: JobStatus.CANCELLED,
}


def _turn_strategy(strategy: str) -> str:
    if not strategy:
        return DEFAULT_MULTITASK_STRATEGY
    return MultitaskStrategy.ENQUEUE if strategy == MultitaskStrategy.REJECT else strategy


def _start(job: Job) -> bool:
    """Queue the job's next turn (its prompt, or the caller's reply) on the `jobs` queue."""
    first = job.turn_id is None
    with transaction.atomic():
        if not Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
            status=JobStatus.RUNNING, started_at=Coalesce("started_at", timezone.now())
        ):
            return False
        if job.timeout_s:
            started_at = job.started_at or timezone.now()
            job_timeout_arm(job_id=str(job.pk), deadline=started_at + timedelta(seconds=job.timeout_s))
        if first:
            job.status = JobStatus.RUNNING
            webhook_enqueue(job=job, event="job.started")
        if job.session is None:
            _end(job.pk, JobStatus.CANCELLED, error="The job's session was deleted.", dispatch=False)
            return True
        try:
            # The turn is enqueued when this block commits, after the job points at it, so
            # the turn's end always finds its job.
            turn = chat_send(
                session_id=job.session.id,
                message=job.pending_message,
                attachments=job.attachments if first else (),
                queue=JOBS_QUEUE,
                # A job continuing a session keeps its strategy (continuation.py decided at submission;
                # a `reject` that passed then found the session free, so nothing is refused now).
                multitask_strategy=_turn_strategy(job.multitask_strategy),
            )
        except ApplicationError as exc:
            _end(job.pk, JobStatus.FAILED, error=exc.message, dispatch=False)
            return True
        Job.objects.filter(pk=job.pk).update(turn=turn, pending_message="")
    return True


def job_dispatch(*, api_key_id: str | None) -> int:
    """Start the key's queued jobs that fit its concurrency limit. Returns how many started."""
    key = JobApiKey.objects.filter(pk=api_key_id).first() if api_key_id else None
    limit = key.max_concurrent_jobs if key is not None else None
    # One dispatcher per key at a time, so two never fill the same free slot.
    with get_redis().lock(f"anker:jobs:dispatch:{api_key_id}", timeout=60, blocking_timeout=30):
        line = Job.objects.filter(api_key_id=api_key_id, status=JobStatus.QUEUED).select_related("session")
        line = line.order_by("-priority", "created_at")
        if limit is not None:
            running = Job.objects.filter(api_key_id=api_key_id, status=JobStatus.RUNNING).count()
            free = max(0, limit - running)
            candidates = list(line[:free])
        else:
            candidates = list(line[:1000])
        return sum(1 for job in candidates if _start(job))


def job_start_enqueue(*, job_id: str) -> None:
    """Send `jobs.start` for a job just made `queued`, once the current transaction commits.

    The submission does no more than this: the job's turn row, its first events and the turn's
    own enqueue are the worker's work (`job_start`)."""
    from ..tasks import job_start_task

    transaction.on_commit(lambda: job_start_task.apply_async(kwargs={"job_id": job_id}, queue=JOBS_QUEUE))


def job_start(*, job_id: str) -> str:
    """`jobs.start`: start a job its submission queued. Returns started, dispatched or not_queued.

    A key with a concurrency limit dispatches as always (under the key's lock, so two
    dispatchers never fill one free slot), and so does a job continuing a session (the key's
    line starts the session's jobs by priority, then age — in the order they were accepted).
    Otherwise there is no slot to fill: only this job is started, without the lock and without
    reading the key's queue. Either way the compare-and-set in `_start` makes a job start once,
    whoever else (a dispatcher after another job's end, beat's tick) picks it too; a job
    cancelled or deleted before this runs is left alone."""
    job = Job.objects.filter(pk=job_id).select_related("api_key", "session").first()
    if job is None or job.status != JobStatus.QUEUED:
        return "not_queued"
    if job.session_id is not None and job.turn_id is None and not job.multitask_strategy:
        # The job's own new session, which its submission left unannounced: the session lists
        # show it from now on, whether the job starts now or waits for a slot.
        session_announce(session_id=job.session_id)
    key = job.api_key
    if (key is not None and key.max_concurrent_jobs is not None) or job.multitask_strategy:
        job_dispatch(api_key_id=job.api_key_id)
        return "dispatched"
    return "started" if _start(job) else "not_queued"


def _turn_result(job: Job, turn_id: str) -> dict[str, Any]:
    """The turn's final assistant message and the files it delivered with it."""
    if job.session_id is None:
        return {"message": "", "files": []}
    messages = eventlog.events_of_types(job.session_id, ("message",), limit=50)
    answer = next(
        (m for m in reversed(messages) if m.get("role") == "assistant" and m.get("turn_id") == turn_id),
        None,
    )
    if answer is None:
        return {"message": "", "files": []}
    files = [
        {"file_id": a["file_id"], "filename": a["filename"], "size": a["size"]} for a in answer.get("attachments", [])
    ]
    return {"message": answer.get("content", ""), "files": files}


def _timed_out(job: Job) -> bool:
    return bool(
        job.timeout_s and job.started_at and timezone.now() >= job.started_at + timedelta(seconds=job.timeout_s)
    )


def _end(
    job_id: Any, status: str, *, error: str = "", result: dict[str, Any] | None = None, dispatch: bool = True
) -> bool:
    """Move a job to `status` from wherever it is not yet ended; webhook, then start the next
    jobs of its key if it has a concurrency limit (unless the caller is the dispatcher itself)."""
    now = timezone.now()
    updates: dict[str, Any] = {"status": status, "error": error}
    if result is not None:
        updates["result"] = result
    if status in ENDED_JOB_STATUSES:
        updates["finished_at"] = now
    allowed_from = [JobStatus.RUNNING]
    if status != JobStatus.WAITING:
        allowed_from += [JobStatus.SCHEDULED, JobStatus.QUEUED, JobStatus.WAITING]
    if not Job.objects.filter(pk=job_id, status__in=allowed_from).update(**updates):
        return False
    job = Job.objects.select_related("api_key").get(pk=job_id)
    webhook_enqueue(job=job)
    if status in ENDED_JOB_STATUSES:
        transaction.on_commit(lambda: job_ended_announce(job_id=str(job.pk)))
        _schedule_next_after(job.pk)
    # Only a key with a concurrency limit has jobs that wait for a slot: without one, every
    # queued job has its own start on the way (`jobs.start`, a wake, a reply; beat's tick if
    # that was lost), and a dispatch here would read the key's whole line and start it
    # serially under the key's lock, in the thread of the turn that just ended.
    if dispatch and job.api_key is not None and job.api_key.max_concurrent_jobs is not None:
        transaction.on_commit(lambda: job_dispatch(api_key_id=job.api_key_id))
    return True


def _schedule_next_after(job_id: Any) -> None:
    """A job a schedule started ended: its schedule's pending `enqueue` run may start now."""
    from ..tasks import schedule_job_ended_task

    schedule_id = ScheduleRun.objects.filter(job_id=job_id).values_list("schedule_id", flat=True).first()
    if schedule_id is not None:
        kwargs = {"schedule_id": str(schedule_id)}
        transaction.on_commit(lambda: schedule_job_ended_task.apply_async(kwargs=kwargs, queue="default"))


def job_ended_channel(job_id: str) -> str:
    """The Redis pub/sub channel a job's end is announced on (`GET /jobs/{id}/wait` listens)."""
    return f"anker:jobs:ended:{job_id}"


def job_ended_announce(*, job_id: str) -> None:
    try:
        get_redis().publish(job_ended_channel(job_id), "1")
    except Exception:  # waiters also poll: a lost announcement only delays them
        logger.warning("could not announce the end of job %s", job_id, exc_info=True)


def job_on_turn_end(*, turn_id: str, status: str) -> None:
    """Every turn's end, through the hook `jobs.apps.JobsConfig.ready` registers with
    `agents.hooks`; a no-op for non-job turns."""
    job = Job.objects.filter(turn_id=turn_id, status=JobStatus.RUNNING).first()
    if job is None:
        return
    new_status = TURN_TO_JOB.get(TurnStatus(status), JobStatus.FAILED)
    error = ""
    if new_status == JobStatus.FAILED:
        error = Turn.objects.filter(pk=turn_id).values_list("error", flat=True).first() or "The job failed."
    elif new_status == JobStatus.CANCELLED and job.cancel_requested_at is None and _timed_out(job):
        new_status, error = JobStatus.FAILED, f"The job ran longer than its timeout of {job.timeout_s} s."
    result = _turn_result(job, turn_id) if new_status in (JobStatus.SUCCEEDED, JobStatus.WAITING) else None
    _end(job.pk, new_status, error=error, result=result)


def job_turn_queue(*, session_id: str) -> str | None:
    """A job's turns run (and resume) on the `jobs` queue, so batch work never takes the chat pool."""
    return JOBS_QUEUE if Job.objects.filter(session_id=session_id).exists() else None
