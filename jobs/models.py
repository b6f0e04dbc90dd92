"""Jobs other systems queue over the API, their API keys and webhook deliveries."""

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from rest_framework_api_key.models import AbstractAPIKey

from agents.models import Turn
from sessions.models import Session


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


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

    class Meta(AbstractAPIKey.Meta):
        db_table = "agents_jobapikey"  # made when jobs lived in agents; kept with the data (jobs 0001)
        verbose_name = "job API key"
        verbose_name_plural = "job API keys"


class JobStatus(models.TextChoices):
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
