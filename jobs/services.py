"""Every write of jobs and their webhooks: submit, dispatch (fairness), end, reply, cancel, deliver.

Status changes are compare-and-set on `Job.status`. A job's turns run on the `jobs` queue;
a key's concurrency limit keeps what is over it `queued` (no turn yet) until the dispatcher
starts it, by priority then age.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from agents.model_choice import model_check, session_model_set
from agents.models import FINISHED_TURN_STATUSES, Turn, TurnStatus
from agents.reach.approvals import approval_decide, approval_pending_of_session
from agents.reach.services import reach_check, session_reach_set
from agents.services import MAX_MESSAGE_CHARS, chat_send, session_delete_with_work, turn_stop
from anker_project.errors import ApplicationError, ConflictError
from anker_project.principal import Principal
from anker_project.redis_client import get_redis
from sessions import eventlog
from sessions.files import file_get_for
from sessions.models import SessionMode
from sessions.services import session_create

from .models import ENDED_JOB_STATUSES, DeliveryStatus, Job, JobApiKey, JobStatus, WebhookAttempt, WebhookDelivery
from .selectors import job_view
from .webhooks import webhook_post, webhook_target_check

logger = logging.getLogger(__name__)

JOBS_QUEUE = "jobs"
DEFAULT_WEBHOOK_EVENTS = ("job.waiting", "job.succeeded", "job.failed", "job.cancelled")
PRIORITY_RANGE = (-10, 10)
TRUNCATED_NOTE = "\n\n[truncated by Anker: the full result is at GET /api/v1/jobs/{job_id}]"
# What a turn's end means for its job.
TURN_TO_JOB = {
    TurnStatus.COMPLETED: JobStatus.SUCCEEDED,
    TurnStatus.WAITING: JobStatus.WAITING,
    TurnStatus.FAILED: JobStatus.FAILED,
    TurnStatus.CANCELLED: JobStatus.CANCELLED,
}


class JobRateLimitedError(ApplicationError):
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many jobs submitted; retry in {retry_after} s", extra={"retry_after": retry_after})
        self.retry_after = retry_after


# --- submit ---------------------------------------------------------------------------------


def job_request_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def job_rate_check(*, api_key: JobApiKey) -> None:
    """Count one submission in the key's fixed one-minute window; raise past its limit."""
    limit = api_key.rate_limit_per_minute
    if not limit:
        return
    now = time.time()
    window = int(now // 60)
    redis_key = f"anker:jobs:rate:{api_key.pk}:{window}"
    pipe = get_redis().pipeline()
    pipe.incr(redis_key)
    pipe.expire(redis_key, 120)
    count = int(pipe.execute()[0])
    if count > limit:
        raise JobRateLimitedError(max(1, int((window + 1) * 60 - now + 0.999)))


def _replay(existing: Job, *, api_key: JobApiKey | None, request_hash: str) -> Job:
    if existing.api_key_id != (api_key.pk if api_key is not None else None) or existing.request_hash != request_hash:
        raise ConflictError("This Idempotency-Key was already used with a different request")
    return existing


def job_submit(
    *,
    api_key: JobApiKey | None,
    prompt: str,
    mode: str = SessionMode.AGENT,
    attachments: Sequence[str] = (),
    webhook_url: str = "",
    metadata: dict[str, Any] | None = None,
    priority: int = 0,
    timeout_s: int | None = None,
    idempotency_key: str | None = None,
    mcp_servers: Sequence[dict[str, Any]] = (),
    tool_rules: dict[str, str] | None = None,
    secrets: Sequence[str] = (),
    after_seconds: int | None = None,
    model: str = "",
    owner_id: int | None = None,
) -> tuple[Job, bool]:
    """Create a job with its own session and start it if its key has a free slot.

    Returns (job, created). The same `idempotency_key` with the same request returns the
    first job and starts nothing; with a different request it is a ConflictError. Keys are the
    API key's own: another key (even of the same owner) neither sees nor claims them. Racing
    duplicates meet the unique constraint on (api_key, idempotency_key): the loser returns the
    winner's job. With `after_seconds` the job is `scheduled` until then (beat's tick
    queues it when due).
    """
    metadata = metadata or {}
    payload = {
        "prompt": prompt,
        "mode": mode,
        "attachments": list(attachments),
        "webhook_url": webhook_url,
        "metadata": metadata,
        "priority": priority,
        "timeout_s": timeout_s,
    }
    if mcp_servers or tool_rules or secrets:  # absent from older requests' hashes
        payload.update(mcp_servers=list(mcp_servers), tool_rules=tool_rules or {}, secrets=list(secrets))
    if after_seconds:
        payload["after_seconds"] = after_seconds
    request_hash = job_request_hash(payload)
    if api_key is not None:
        owner_id = api_key.owner_id
    elif owner_id is None:
        raise ValueError("job_submit needs an api_key or, for a user's own schedule, an owner_id")
    if idempotency_key:
        existing = Job.objects.filter(api_key=api_key, idempotency_key=idempotency_key).first()
        if existing is not None:
            return _replay(existing, api_key=api_key, request_hash=request_hash), False
    if not prompt.strip():
        raise ApplicationError("prompt must not be empty")
    if len(prompt) > MAX_MESSAGE_CHARS:
        raise ApplicationError(f"prompt is longer than {MAX_MESSAGE_CHARS} characters")
    if mode not in SessionMode.values:
        raise ApplicationError(f"mode must be one of {', '.join(SessionMode.values)}")
    if not PRIORITY_RANGE[0] <= priority <= PRIORITY_RANGE[1]:
        raise ApplicationError("priority must be between -10 and 10")
    if len(json.dumps(metadata).encode()) > settings.JOB_METADATA_MAX_BYTES:
        raise ApplicationError(f"metadata is larger than {settings.JOB_METADATA_MAX_BYTES} bytes")
    if after_seconds is not None and not 0 <= after_seconds <= settings.JOB_MAX_DELAY_SECONDS:
        raise ApplicationError(f"after_seconds must be between 0 and {settings.JOB_MAX_DELAY_SECONDS}")
    if webhook_url:
        webhook_target_check(webhook_url)
    model = model_check(model)
    reach = reach_check(
        owner_id=owner_id,
        mcp_servers=mcp_servers,
        tool_rules=tool_rules,
        api_key_rules=api_key.tool_rules if api_key is not None else {},
        secrets=secrets,
    )
    principal = Principal(user_id=owner_id, api_key_id=str(api_key.pk) if api_key is not None else None)
    for file_id in attachments:
        # The key's own uploads (or its jobs' files): the owner's other files are a 404 for it.
        file_get_for(principal=principal, file_id=file_id)
    try:
        with transaction.atomic():
            # The job row first: it claims the idempotency key before anything else is made.
            job = Job.objects.create(
                owner_id=owner_id,
                api_key=api_key,
                mode=mode,
                prompt=prompt,
                pending_message=prompt,
                attachments=list(attachments),
                webhook_url=webhook_url,
                metadata=metadata,
                priority=priority,
                timeout_s=timeout_s,
                idempotency_key=idempotency_key or None,
                request_hash=request_hash,
                status=JobStatus.SCHEDULED if after_seconds else JobStatus.QUEUED,
                not_before=timezone.now() + timedelta(seconds=after_seconds) if after_seconds else None,
            )
            session = session_create(
                owner_id=owner_id, mode=mode, api_key_id=str(api_key.pk) if api_key is not None else None
            )
            if reach:
                session_reach_set(session_id=session.id, reach=reach)
            if model:
                session_model_set(session_id=session.id, model=model)
            Job.objects.filter(pk=job.pk).update(session=session)
            job.session = session
    except IntegrityError:
        winner = Job.objects.filter(api_key=api_key, idempotency_key=idempotency_key).first()
        if winner is None:
            raise
        return _replay(winner, api_key=api_key, request_hash=request_hash), False
    job_dispatch(api_key_id=api_key.pk if api_key is not None else None)
    job.refresh_from_db()
    return job, True


# --- dispatch -------------------------------------------------------------------------------


def _start(job: Job) -> bool:
    """Queue the job's next turn (its prompt, or the caller's reply) on the `jobs` queue."""
    first = job.turn_id is None
    with transaction.atomic():
        if not Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
            status=JobStatus.RUNNING, started_at=Coalesce("started_at", timezone.now())
        ):
            return False
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
                session=job.session,
                message=job.pending_message,
                attachments=job.attachments if first else (),
                queue=JOBS_QUEUE,
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


# --- a turn's end ---------------------------------------------------------------------------


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
    jobs of its key (unless the caller is the dispatcher itself)."""
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
    if dispatch:
        transaction.on_commit(lambda: job_dispatch(api_key_id=job.api_key_id))
    return True


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


# --- caller's actions -----------------------------------------------------------------------


def _stop_turn(job: Job) -> None:
    """Stop the job's current turn; a turn no worker started ends here, a running one at its
    next safe point (its end then ends the job)."""
    if job.session is None:
        return
    turn_stop(session=job.session)
    if job.turn_id is not None:
        turn = Turn.objects.filter(pk=job.turn_id).only("status").first()
        if turn is not None and turn.status in FINISHED_TURN_STATUSES:
            job_on_turn_end(turn_id=str(job.turn_id), status=turn.status)


def job_cancel(*, job: Job) -> Job:
    """Cancel a job. Queued and waiting jobs end at once; a running one when its turn stops."""
    if job.status in ENDED_JOB_STATUSES:
        raise ConflictError(f"The job already ended ({job.status})")
    Job.objects.filter(pk=job.pk, cancel_requested_at__isnull=True).update(cancel_requested_at=timezone.now())
    if job.status == JobStatus.RUNNING:
        _stop_turn(job)
    else:
        if _end(job.pk, JobStatus.CANCELLED) and job.status == JobStatus.WAITING and job.session is not None:
            turn_stop(session=job.session)  # the session ends `stopped`
    job.refresh_from_db()
    return job


def job_approve(*, job: Job, approve: bool, note: str = "") -> Job:
    """Decide the tool call a waiting job asks approval for; an approved call runs, a denied one
    goes back to the model as denied. The job runs again at once, outside its key's queue: it was already started."""
    pending = approval_pending_of_session(session_id=job.session_id) if job.session_id else None
    if job.status != JobStatus.WAITING or pending is None or job.session is None:
        raise ConflictError("The job is not waiting for an approval")
    with transaction.atomic():
        if not Job.objects.filter(pk=job.pk, status=JobStatus.WAITING).update(status=JobStatus.RUNNING, result=None):
            raise ConflictError("The job is not waiting for an approval")
        # The turn is enqueued when this block commits, after the job points at it.
        _approval, turn = approval_decide(
            session=job.session, tool_call_id=pending.tool_call_id, approve=approve, note=note, queue=JOBS_QUEUE
        )
        Job.objects.filter(pk=job.pk).update(turn=turn)
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
    for job in jobs.select_related("session").order_by("-created_at")[: settings.JOB_BULK_CANCEL_MAX]:
        try:
            cancelled.append(job_cancel(job=job))
        except ConflictError:  # ended meanwhile
            continue
    return cancelled


def job_delete(*, job: Job) -> None:
    """Delete an ended job with its session (event log, memory, files, sandbox) and webhooks."""
    if job.status not in ENDED_JOB_STATUSES:
        raise ConflictError(f"Only an ended job can be deleted; this one is {job.status}. Cancel it first.")
    session = job.session
    with transaction.atomic():
        Job.objects.filter(pk=job.pk).delete()
    if session is not None:
        session_delete_with_work(session=session)


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
        job_delete(job=job)
        deleted += 1
    return deleted


def job_reply(*, job: Job, message: str) -> Job:
    """Answer a waiting job: its next turn gets `message`, when its key has a free slot."""
    if not message.strip():
        raise ApplicationError("message must not be empty")
    if not Job.objects.filter(pk=job.pk, status=JobStatus.WAITING).update(
        status=JobStatus.QUEUED, pending_message=message, result=None
    ):
        raise ConflictError("The job is not waiting for a reply")
    job_dispatch(api_key_id=job.api_key_id)
    job.refresh_from_db()
    return job


# --- housekeeping ---------------------------------------------------------------------------


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


# --- webhooks -------------------------------------------------------------------------------


def _webhook_body(job: Job, event: str) -> bytes:
    """The job's view as JSON, at most WEBHOOK_MAX_BODY_BYTES: a long result message is cut
    with a note saying where the full one is."""
    view = job_view(job)
    view["event"] = event
    body = json.dumps(view, separators=(",", ":")).encode()
    cap = settings.WEBHOOK_MAX_BODY_BYTES
    if len(body) > cap and view.get("result"):
        message: str = view["result"]["message"]
        note = TRUNCATED_NOTE.format(job_id=job.id)
        view["result"]["truncated"] = True
        keep = len(message)
        # JSON escaping makes bytes and characters differ: shrink until the body fits.
        while len(body) > cap and keep > 0:
            keep = max(0, keep - (len(body) - cap) - len(note) - 16)
            view["result"]["message"] = message[:keep] + note
            body = json.dumps(view, separators=(",", ":")).encode()
    return body


def _schedule_delivery(delivery_id: str, *, countdown: float) -> None:
    from .tasks import webhook_deliver

    transaction.on_commit(
        lambda: webhook_deliver.apply_async(kwargs={"delivery_id": delivery_id}, countdown=countdown, queue="default")
    )


def webhook_enqueue(*, job: Job, event: str | None = None) -> WebhookDelivery | None:
    """Record a webhook of the job's current status (ended or waiting; or `event`, e.g.
    `job.started`) and send it soon — unless the job's key filters that event out."""
    event = event or f"job.{job.status}"
    if not job.webhook_url:
        return None
    wanted = job.api_key.webhook_events if job.api_key is not None else []
    # No filter: the events a job always announced (its end, and waiting for a reply);
    # `job.started` only to keys that ask for it, so existing receivers see nothing new.
    if event not in (wanted or DEFAULT_WEBHOOK_EVENTS):
        return None
    delivery = WebhookDelivery.objects.create(
        job=job, event=event, url=job.webhook_url, body=_webhook_body(job, event).decode()
    )
    _schedule_delivery(str(delivery.id), countdown=0)
    return delivery


def webhook_redeliver(*, delivery_id: str) -> WebhookDelivery:
    """Send a delivery's body again as a new delivery with a fresh retry schedule."""
    old = WebhookDelivery.objects.get(pk=delivery_id)
    delivery = WebhookDelivery.objects.create(job_id=old.job_id, event=old.event, url=old.url, body=old.body)
    _schedule_delivery(str(delivery.id), countdown=0)
    return delivery


def webhook_attempt(*, delivery_id: str) -> str:
    """Make the delivery's next attempt if it is due; record it; schedule the retry.

    Two workers never make the same attempt: the attempt is claimed by compare-and-set on
    `attempt_count`. Returns what happened: delivered, retry, gave_up, not_due.
    """
    now = timezone.now()
    delivery = WebhookDelivery.objects.select_related("job__api_key").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return "not_due"
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now + timedelta(seconds=1):
        return "not_due"
    number = delivery.attempt_count + 1
    lease = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS * 3 + 30)
    if not WebhookDelivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.PENDING, attempt_count=delivery.attempt_count
    ).update(attempt_count=number, next_attempt_at=lease):
        return "not_due"
    key = delivery.job.api_key
    if key is None:
        outcome_code, outcome_error, duration = None, "The job's API key was deleted: nothing to sign with.", 0
    else:
        outcome = webhook_post(
            url=delivery.url,
            body=delivery.body.encode(),
            secret=key.webhook_secret,
            message_id=f"msg_{delivery.pk.hex}",
        )
        outcome_code, outcome_error, duration = outcome.status_code, outcome.error, outcome.duration_ms
    WebhookAttempt.objects.create(
        delivery=delivery, number=number, status_code=outcome_code, error=outcome_error, duration_ms=duration
    )
    if outcome_code is not None and 200 <= outcome_code < 300:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.SUCCEEDED, delivered_at=timezone.now(), next_attempt_at=None
        )
        return "delivered"
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if number > len(schedule) or key is None:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED, next_attempt_at=None)
        return "gave_up"
    delay = float(schedule[number - 1])
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() + timedelta(seconds=delay))
    if delay <= settings.WEBHOOK_COUNTDOWN_MAX_SECONDS:
        _schedule_delivery(str(delivery.pk), countdown=delay)
    return "retry"
