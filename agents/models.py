import uuid

from django.db import models

from sessions.models import Session


class TurnStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting", "Asked the user"  # the turn ended with a question; the answer is a new turn
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled", "Stopped"


ACTIVE_TURN_STATUSES = (TurnStatus.QUEUED, TurnStatus.RUNNING)
FINISHED_TURN_STATUSES = (TurnStatus.WAITING, TurnStatus.COMPLETED, TurnStatus.FAILED, TurnStatus.CANCELLED)


class Turn(models.Model):
    """One user message and the work it causes, run by `agents.run_turn`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="turns")
    mode = models.CharField(max_length=16)
    message = models.TextField()
    message_seq = models.PositiveIntegerField(default=0, help_text="seq of the user message event")
    status = models.CharField(max_length=16, choices=TurnStatus.choices, default=TurnStatus.QUEUED)
    error = models.TextField(blank=True, default="")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    model = models.CharField(max_length=200, blank=True, default="", help_text="the model the turn talked to")
    resume_count = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(
        null=True, blank=True, help_text="when run_turn was last sent to the broker for this turn"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["session", "-created_at"], name="turn_session_recent"),
            models.Index(fields=["status", "heartbeat_at"], name="turn_status_heartbeat"),
        ]

    def __str__(self) -> str:
        return f"turn {self.id} ({self.status})"


from .reach.models import ApprovalStatus, McpServer, Secret, SessionReach, ToolAction, ToolApproval, ToolRule  # noqa: E402, F401
