"""Submitting a job: validation, idempotency, the rate window; the job and its session in one transaction."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from agents.model_choice import model_check, session_model_set
from agents.multitask import MultitaskStrategy
from agents.reach.services import reach_check, session_reach_set
from agents.services import MAX_MESSAGE_CHARS
from anker_project.errors import ApplicationError, ConflictError
from anker_project.principal import Principal
from anker_project.redis_client import get_redis
from sessions.files import file_get_for
from sessions.models import SessionMode
from sessions.services import session_create

from ..models import Job, JobApiKey, JobStatus
from ..webhooks import webhook_target_check
from .continuation import job_session_continue, job_session_lock
from .lifecycle import job_start_enqueue
from .timers import job_wake_arm

logger = logging.getLogger(__name__)

PRIORITY_RANGE = (-10, 10)


class JobRateLimitedError(ApplicationError):
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many jobs submitted; retry in {retry_after} s", extra={"retry_after": retry_after})
        self.retry_after = retry_after


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
    session_id: str | None = None,
    multitask_strategy: str | None = None,
) -> tuple[Job, bool]:
    """Create a job with its own session, `queued`, and send `jobs.start` on commit: the worker
    starts it (`lifecycle.job_start`) when its key has a free slot.

    Returns (job, created): a new job as committed here, `queued` (or `scheduled`). The same
    `idempotency_key` with the same request returns the first job (as it is now) and starts
    nothing; with a different request it is a ConflictError. Keys are the
    API key's own: another key (even of the same owner) neither sees nor claims them. Racing
    duplicates meet the unique constraint on (api_key, idempotency_key): the loser returns the
    winner's job. With `after_seconds` the job is `scheduled` until then (a `jobs.wake`
    timer queues it when due).

    With `session_id` the job continues that session (a session of this key's jobs; any other
    is a NotFoundError) and a job still live there is treated by `multitask_strategy` (else the
    key's default): see `continuation.py`; a `reject` is a ConflictError with nothing created.
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
    if session_id:
        payload.update(session_id=session_id, multitask_strategy=multitask_strategy)
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
    if multitask_strategy is not None and multitask_strategy not in MultitaskStrategy.values:
        raise ApplicationError(f"multitask_strategy must be one of {', '.join(MultitaskStrategy.values)}")
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
    strategy = ""
    continued = None
    with job_session_lock(session_id) if session_id else contextlib.nullcontext():
        if session_id:
            strategy = multitask_strategy or (
                api_key.default_multitask_strategy if api_key is not None else MultitaskStrategy.REJECT
            )
            continued = job_session_continue(
                api_key=api_key, owner_id=owner_id, session_id=session_id, strategy=strategy
            )
        try:
            with transaction.atomic():
                # The job row first: it claims the idempotency key before anything else is made.
                job = Job.objects.create(
                    owner_id=owner_id,
                    api_key=api_key,
                    mode=continued.mode if continued is not None else mode,  # its turns run in the session's mode
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
                    multitask_strategy=strategy if continued is not None else "",
                )
                session = continued or session_create(
                    owner_id=owner_id,
                    mode=mode,
                    api_key_id=str(api_key.pk) if api_key is not None else None,
                    # A job queued now is announced to the session lists by its start in the worker
                    # (`job_start`); a delayed one now, as it will not start for a while.
                    announce=bool(after_seconds),
                )
                if reach:
                    session_reach_set(session_id=session.id, reach=reach)
                if model:
                    session_model_set(session_id=session.id, model=model)
                Job.objects.filter(pk=job.pk).update(session=session)
                job.session = session
                if job.not_before is not None:
                    job_wake_arm(job_id=str(job.pk), not_before=job.not_before)
                else:
                    # Its turn row, first events and the turn's enqueue are the worker's work.
                    job_start_enqueue(job_id=str(job.pk))
        except IntegrityError:
            winner = Job.objects.filter(api_key=api_key, idempotency_key=idempotency_key).first()
            if winner is None:
                raise
            return _replay(winner, api_key=api_key, request_hash=request_hash), False
        return job, True
