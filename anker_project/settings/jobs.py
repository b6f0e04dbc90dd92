"""Jobs for other systems: API keys, queue fairness, webhooks."""

from .env import env

# Webhook deliveries are retried after these many seconds (one entry per retry), then given up:
# exponential, capped at 3 h, about a day in all.
WEBHOOK_RETRY_SCHEDULE = [float(s) for s in env.list("WEBHOOK_RETRY_SCHEDULE", default=[]) if str(s).strip()] or [
    30,
    60,
    120,
    300,
    600,
    1200,
    1800,
    3600,
    7200,
    10800,
    10800,
    10800,
    10800,
    10800,
    10800,
    10800,
]
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=256 * 1024)
# Loopback, private, link-local and multicast targets are refused unless this is true (tests, labs).
WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=False)
# Deliveries due later than this are left to the beat sweep instead of a Celery countdown
# (a Redis broker re-delivers countdown tasks older than its visibility timeout).
WEBHOOK_COUNTDOWN_MAX_SECONDS = env.float("WEBHOOK_COUNTDOWN_MAX_SECONDS", default=300.0)
# Absolute links in job responses and webhooks start with this (e.g. https://anker.example.com).
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="").rstrip("/")
JOB_METADATA_MAX_BYTES = env.int("JOB_METADATA_MAX_BYTES", default=16 * 1024)
# Job dispatch, delayed starts, timeouts and webhook retries each happen on their own event or
# timer; beat's `jobs.tick` is a slow safety net for what a lost message or a dead worker left
# behind. (JOB_DISPATCH_SECONDS is its older name.)
JOBS_TICK_SECONDS = env.float("JOBS_TICK_SECONDS", default=env.float("JOB_DISPATCH_SECONDS", default=60.0))
# Timers (a delayed start, a timeout) further off than this are armed by that tick when they come
# near, not at once: a Redis broker hands a countdown task out again after its visibility timeout.
JOB_TIMER_MAX_SECONDS = env.float("JOB_TIMER_MAX_SECONDS", default=1800.0)
# `after_seconds` on POST /jobs: at most this delay (default 30 days).
JOB_MAX_DELAY_SECONDS = env.int("JOB_MAX_DELAY_SECONDS", default=30 * 24 * 3600)
# Ended jobs (with their sessions, logs and files) are deleted this many days after they end;
# 0 keeps them forever.
JOB_RETENTION_DAYS = env.int("JOB_RETENTION_DAYS", default=0)
# `GET /jobs/{id}/wait?timeout=` and `POST /jobs` with `"wait": true`: the longest wait.
JOB_WAIT_MAX_SECONDS = env.int("JOB_WAIT_MAX_SECONDS", default=300)
JOB_BULK_CANCEL_MAX = env.int("JOB_BULK_CANCEL_MAX", default=1000)
# Schedules: each fire is a timer task; how often beat's safety net looks for due fires a lost
# timer left behind, and how late a fire may still start after
# downtime (older missed fires are recorded as `missed` and skipped).
SCHEDULE_TICK_SECONDS = env.float("SCHEDULE_TICK_SECONDS", default=60.0)
SCHEDULE_MISFIRE_GRACE_SECONDS = env.int("SCHEDULE_MISFIRE_GRACE_SECONDS", default=300)
SCHEDULES_MAX_PER_OWNER = env.int("SCHEDULES_MAX_PER_OWNER", default=1000)
