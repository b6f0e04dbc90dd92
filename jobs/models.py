"""Jobs other systems queue over the API, their API keys and webhook deliveries."""

import base64
import secrets
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from rest_framework_api_key.models import AbstractAPIKey

from agents.models import Turn
from agents.multitask import MultitaskStrategy
from sessions.models import Session


def new_webhook_secret() -> str:
    """`whsec_` and 32 random bytes in standard base64: the Standard Webhooks secret format."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


# The webhook events a key may ask for; `job.started` is sent when a job's first turn starts.
WEBHOOK_EVENTS = ("job.started", "job.waiting", "job.succeeded", "job.failed", "job.cancelled")


def validate_webhook_events(value: object) -> None:
    if not isinstance(value, list) or any(event not in WEBHOOK_EVENTS for event in value):
        raise ValidationError(f"A list of job events, each one of: {', '.join(WEBHOOK_EVENTS)}")


class JobApiKey(AbstractAPIKey):
    """A key another system submits jobs with. Hashed at rest (the library); the webhook
    secret is kept in clear because every webhook is signed with it."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="job_api_keys")
    max_concurrent_jobs = models.PositiveIntegerField(
        null=True, blank=True, help_text="Jobs of this key running at once; more wait queued. Empty = no limit."
    )
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Job submissions per minute; more get 429. Empty = no limit."
    )
    webhook_secret = models.CharField(max_length=100, default=new_webhook_secret, editable=False)
    tool_rules = models.JSONField(
        default=dict,
        blank=True,
        help_text='Tool rules of this key\'s jobs, e.g. {"shell_*": "ask"} (allow | ask | block); '
        "a job's own rules beat these, these beat the owner's and the global ones.",
    )
    default_multitask_strategy = models.CharField(
        max_length=10,
        choices=MultitaskStrategy.choices,
        default=MultitaskStrategy.REJECT,
        help_text="What a job submitted into a session that is still busy does when the request names no "
        "multitask_strategy: reject (409), interrupt, rollback or enqueue.",
    )
    webhook_events = models.JSONField(
        default=list,
        validators=[validate_webhook_events],
        blank=True,
        help_text="Job events this key's webhooks are sent for, of job.started, job.waiting, job.succeeded, "
        "job.failed, job.cancelled. Empty = all but job.started.",
    )

    class Meta(AbstractAPIKey.Meta):
        db_table = "agents_jobapikey"  # made when jobs lived in agents; kept with the data (jobs 0001)
        verbose_name = "job API key"
        verbose_name_plural = "job API keys"


class JobStatus(models.TextChoices):
    SCHEDULED = "scheduled"  # submitted with after_seconds: not started before not_before
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ENDED_JOB_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Job(models.Model):
    """One agent job: its own session, and the turns that answer its prompt (and replies).

    `queued` jobs have no running turn: they wait for a slot of their key's concurrency
    limit (the dispatcher starts them by priority, then age). `running` means the job's
    current turn is on the `jobs` queue or on a worker.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    api_key = models.ForeignKey(JobApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    session = models.ForeignKey(Session, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    turn = models.ForeignKey(Turn, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Set on a job submitted into an existing session: how its turn treats one still running there.
    multitask_strategy = models.CharField(max_length=10, choices=MultitaskStrategy.choices, blank=True, default="")
    mode = models.CharField(max_length=16)
    prompt = models.TextField()
    attachments = models.JSONField(default=list, blank=True)
    # The message the next dispatch sends: the prompt first, then the caller's reply.
    pending_message = models.TextField(blank=True, default="")
    webhook_url = models.URLField(max_length=2000, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    priority = models.SmallIntegerField(default=0)
    timeout_s = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    error = models.TextField(blank=True, default="")
    result = models.JSONField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    request_hash = models.CharField(max_length=64, blank=True, default="")
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    # `after_seconds` at submission: a `scheduled` job is not started before this instant.
    not_before = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "agents_job"
        ordering = ["-created_at"]
        constraints = [
            # Per API key, not per owner: a key must not learn (409) or claim another key's.
            models.UniqueConstraint(
                fields=["api_key", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="job_one_per_key_idempotency_key",
            )
        ]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="job_owner_recent"),
            models.Index(fields=["api_key", "status", "-priority", "created_at"], name="job_key_line"),
            models.Index(fields=["turn"], name="job_turn"),
        ]

    def __str__(self) -> str:
        return f"job {self.id} ({self.status})"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # retries exhausted


class WebhookDelivery(models.Model):
    """One webhook notification (a job event) and its attempts. The body is fixed when the
    event happens; each attempt signs it with a fresh timestamp."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="webhook_deliveries")
    event = models.CharField(max_length=32)
    url = models.URLField(max_length=2000)
    body = models.TextField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "agents_webhookdelivery"
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_due")]

    def __str__(self) -> str:
        return f"{self.event} of job {self.job_id} ({self.status})"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "agents_webhookattempt"
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_number")]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.status_code or self.error}"


class OverlapPolicy(models.TextChoices):
    """What a schedule does when it fires while the job it started last has not ended."""

    SKIP = "skip"  # record the fire as skipped; start nothing
    ENQUEUE = "enqueue"  # start the new job once the previous one has ended
    CANCEL_PREVIOUS = "cancel_previous"  # cancel the previous job, then start the new one


class Schedule(models.Model):
    """A cron schedule that submits a job (`job` is the body of POST /jobs) at every fire time.

    Made by an API key (its jobs count against that key) or by a user in the web app (jobs
    without a key). `next_run_at` is the next fire instant; beat claims a fire by moving it
    forward with compare-and-set, and the unique (schedule, fire_at) run row makes a second
    beat's claim of the same fire fail instead of starting a second job.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="job_schedules")
    api_key = models.ForeignKey(JobApiKey, null=True, blank=True, on_delete=models.CASCADE, related_name="schedules")
    name = models.CharField(max_length=200, blank=True, default="")
    cron = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC")
    start_at = models.DateTimeField(null=True, blank=True)
    end_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    job = models.JSONField(help_text="The job body each fire submits (prompt, mode, webhook_url, metadata, ...).")
    overlap_policy = models.CharField(max_length=16, choices=OverlapPolicy.choices, default=OverlapPolicy.SKIP)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="schedule_due")]

    def __str__(self) -> str:
        return f"schedule {self.name or self.id} ({self.cron} {self.timezone})"


class ScheduleRunOutcome(models.TextChoices):
    STARTED = "started"  # a job was submitted
    PENDING = "pending"  # enqueue policy: waits for the previous job to end
    SKIPPED = "skipped"  # skip policy: the previous job was still running
    MISSED = "missed"  # fire times that passed while nothing ran (downtime), past the grace
    FAILED = "failed"  # the submission was refused (the error says why)


class ScheduleRun(models.Model):
    """One fire of a schedule (cron or `POST /schedules/{id}/run`) and the job it started."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="runs")
    fire_at = models.DateTimeField()
    manual = models.BooleanField(default=False)
    outcome = models.CharField(max_length=16, choices=ScheduleRunOutcome.choices)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="schedule_runs")
    missed_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-fire_at", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "fire_at"], condition=Q(manual=False), name="schedule_run_once_per_fire"
            )
        ]

    def __str__(self) -> str:
        return f"{self.schedule_id} at {self.fire_at:%Y-%m-%d %H:%M} ({self.outcome})"
