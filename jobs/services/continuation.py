"""A job submitted into an existing session (`POST /jobs` with `session_id`): double-texting.

The session is busy while another job on it has not ended. What the new job does then is its
`multitask_strategy` (the request's, else its key's `default_multitask_strategy`):

- `reject`: a ConflictError (409); nothing is created or changed.
- `interrupt`: the other jobs end `cancelled`; a running turn stops at its next safe point with
  its history kept, and the new job's turn runs once it has.
- `rollback`: the same, and the stopped turns' events and agent memory are discarded (one
  `rollback` event in the log).
- `enqueue`: nothing is ended; the new job's turn runs after the turns ahead of it, in order.

Submissions into one session are decided one at a time (`job_session_lock`, held from the
decision until the new job is committed, `queued`), so twenty at once have exactly one outcome:
a job accepted and not started yet is live, and the next decision sees it. The worker starts the
session's jobs through the key's dispatcher, by priority then age, so `enqueue` keeps their order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.utils import timezone

from agents.control import StopReason
from agents.models import FINISHED_TURN_STATUSES, Turn
from agents.multitask import SUBMIT_LOCK_SECONDS, SUBMIT_LOCK_WAIT_SECONDS, MultitaskStrategy
from agents.services import turns_end_active
from anker_project.errors import ConflictError, NotFoundError, UnavailableError
from anker_project.redis_client import get_redis
from sessions.models import Session

from ..models import ENDED_JOB_STATUSES, Job, JobApiKey, JobStatus
from .lifecycle import _end, job_on_turn_end

BUSY_MESSAGE = (
    "The session is still running a job (multitask_strategy=reject): wait for its end, "
    "or submit with interrupt, rollback or enqueue."
)


@contextlib.contextmanager
def job_session_lock(session_id: str) -> Iterator[None]:
    """Held while a submission into the session is decided and its job created."""
    lock = get_redis().lock(f"anker:job-session-submit:{session_id}", timeout=SUBMIT_LOCK_SECONDS)
    if not lock.acquire(blocking_timeout=SUBMIT_LOCK_WAIT_SECONDS):
        raise UnavailableError("Too many jobs for this session at once: submit again in a moment.")
    try:
        yield
    finally:
        with contextlib.suppress(Exception):  # expired: nothing left to release
            lock.release()


def job_session_continue(*, api_key: JobApiKey | None, owner_id: int, session_id: str, strategy: str) -> Session:
    """The session a new job continues, after applying `strategy` to the jobs still live on it.
    Only a session of the same key's jobs (a foreign one is a 404). Call under `job_session_lock`."""
    sessions = Session.objects.filter(pk=session_id, owner_id=owner_id)
    sessions = sessions.filter(api_key_id=api_key.pk if api_key is not None else None)
    session = sessions.first()
    if session is None or not Job.objects.filter(session=session).exists():
        raise NotFoundError("Session not found")
    live = list(Job.objects.filter(session=session).exclude(status__in=ENDED_JOB_STATUSES))
    if not live or strategy == MultitaskStrategy.ENQUEUE:
        return session
    if strategy == MultitaskStrategy.REJECT:
        raise ConflictError(BUSY_MESSAGE)
    reason = StopReason.ROLLBACK if strategy == MultitaskStrategy.ROLLBACK else StopReason.INTERRUPT
    Job.objects.filter(pk__in=[j.pk for j in live], cancel_requested_at__isnull=True).update(
        cancel_requested_at=timezone.now()
    )
    turns_end_active(session_id=session.id, reason=reason)
    for job in live:
        if job.status != JobStatus.RUNNING:
            _end(job.pk, JobStatus.CANCELLED)  # not started (or waiting for a reply): it ends now
            continue
        turn = Turn.objects.filter(pk=job.turn_id).only("status").first() if job.turn_id else None
        if turn is not None and turn.status in FINISHED_TURN_STATUSES:
            job_on_turn_end(turn_id=str(job.turn_id), status=turn.status)  # its queued turn was cancelled
        # A running turn ends the job (`cancelled`) when its worker stops it.
    return session
