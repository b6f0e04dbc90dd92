"""Celery: broker, queues, beat schedule."""

from kombu import Queue

from .agent import SANDBOX_POOL_SIZE
from .env import env, env_or
from .jobs import JOBS_TICK_SECONDS, SCHEDULE_TICK_SECONDS
from .realtime import REDIS_URL

CELERY_BROKER_URL = env_or("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "default"
# `jobs` holds the turns of API jobs, consumed by their own pool so batches never starve chats.
CELERY_TASK_QUEUES = (Queue("turns"), Queue("sandboxes"), Queue("default"), Queue("jobs"))
CELERY_TASK_ROUTES = {
    "agents.run_turn": {"queue": "turns"},
    "sandboxes.*": {"queue": "sandboxes"},
}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# No `task-sent` event: it is a second publish in every sender (a request's `jobs.start`, a turn's
# enqueue). Flower lists a task from the worker's `task-received` on (any task event adds it to
# its state); what it no longer shows is a task still waiting in the broker, whose queue's length
# its Broker page shows.
CELERY_TASK_SEND_SENT_EVENT = False
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # An unacknowledged turn (its worker died) is handed out again after this long; the
    # watchdog below usually resumes it sooner.
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
}
# Idle sandboxes hibernate on a timer each (sandboxes/hibernation.py, SANDBOX_IDLE_STOP_MINUTES in
# settings/agent.py); beat's sweep is a slow safety net for a lost timer and a passage a dead
# worker left half done.
SANDBOX_IDLE_SWEEP_SECONDS = env.float("SANDBOX_IDLE_SWEEP_SECONDS", default=300.0)
CELERY_BEAT_SCHEDULE = {
    "turn-watchdog": {"task": "agents.turn_watchdog", "schedule": env.float("TURN_WATCHDOG_SECONDS", default=30.0)},
    "sandbox-reaper": {"task": "sandboxes.reap", "schedule": 60.0},
    "sandbox-hibernate": {"task": "sandboxes.hibernate_idle", "schedule": SANDBOX_IDLE_SWEEP_SECONDS},
    "jobs-tick": {"task": "jobs.tick", "schedule": JOBS_TICK_SECONDS},
    "schedules-tick": {"task": "jobs.schedules_tick", "schedule": SCHEDULE_TICK_SECONDS},
    "jobs-retention": {"task": "jobs.retention_sweep", "schedule": 3600.0},
}
if SANDBOX_POOL_SIZE > 0:  # without a warm pool there is nothing to refill (and nothing for Flower to list)
    CELERY_BEAT_SCHEDULE["sandbox-pool-refill"] = {"task": "sandboxes.pool_refill", "schedule": 30.0}

# A running turn writes a heartbeat this often; one silent for TURN_STALE_SECONDS is dead.
TURN_HEARTBEAT_SECONDS = env.float("TURN_HEARTBEAT_SECONDS", default=5.0)
TURN_STALE_SECONDS = env.int("TURN_STALE_SECONDS", default=60)
TURN_MAX_RESUMES = env.int("TURN_MAX_RESUMES", default=2)
# The session lock of a running turn lasts this long unless its heartbeat renews it: keep it a few
# heartbeats long. A turn whose worker died can be resumed only once its lock has expired.
TURN_LOCK_SECONDS = env.float("TURN_LOCK_SECONDS", default=30.0)
# A turn still `queued` this long after its run_turn message was sent is sent again: the message
# was lost (a Redis restart without persistence, a broker failover) or never sent. run_turn is
# idempotent, so a duplicate costs one skipped task. Keep it above the time a busy queue waits.
TURN_REQUEUE_SECONDS = env.int("TURN_REQUEUE_SECONDS", default=120)
