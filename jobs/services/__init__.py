"""Every write of jobs and their webhooks, one module per part of a job's life:

- `submit`: validation, idempotency, the rate window; the job and its session.
- `lifecycle`: a job's start in the worker (`jobs.start`), dispatch (fairness per key) and the
  end of a job's turn.
- `actions`: what the caller does to a job (cancel, approve, reply, delete), retention.
- `timers` and `housekeeping`: what happens at a time (a delayed start, a timeout), and beat's
  slow safety-net tick.
- `deliveries`: webhooks (record, send, retry, redeliver).

Imports run submit → lifecycle → deliveries, actions → lifecycle, housekeeping → all three;
submit, lifecycle and actions → timers. `deliveries`, `timers` and `lifecycle` (`jobs.start`)
reach `jobs.tasks` lazily (the service ↔ task pattern). Callers import from `jobs.services`,
which re-exports the public names below.
"""

from .actions import (
    BULK_CANCEL_STATUSES,
    job_approve,
    job_cancel,
    job_delete,
    job_reply,
    jobs_cancel_many,
    jobs_retention_sweep,
)
from .deliveries import DEFAULT_WEBHOOK_EVENTS, webhook_attempt, webhook_enqueue, webhook_redeliver
from .housekeeping import job_timeout, job_wake, jobs_tick
from .lifecycle import (
    JOBS_QUEUE,
    TURN_TO_JOB,
    job_dispatch,
    job_ended_announce,
    job_ended_channel,
    job_on_turn_end,
    job_start,
    job_start_enqueue,
    job_turn_queue,
)
from .submit import PRIORITY_RANGE, JobRateLimitedError, job_rate_check, job_request_hash, job_submit

__all__ = [
    "BULK_CANCEL_STATUSES",
    "DEFAULT_WEBHOOK_EVENTS",
    "JOBS_QUEUE",
    "PRIORITY_RANGE",
    "TURN_TO_JOB",
    "JobRateLimitedError",
    "job_approve",
    "job_cancel",
    "job_delete",
    "job_dispatch",
    "job_ended_announce",
    "job_ended_channel",
    "job_on_turn_end",
    "job_rate_check",
    "job_reply",
    "job_request_hash",
    "job_start",
    "job_start_enqueue",
    "job_submit",
    "job_timeout",
    "job_turn_queue",
    "job_wake",
    "jobs_cancel_many",
    "jobs_retention_sweep",
    "jobs_tick",
    "webhook_attempt",
    "webhook_enqueue",
    "webhook_redeliver",
]
