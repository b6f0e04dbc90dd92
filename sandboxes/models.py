import uuid

from django.db import models
from django.db.models import Q


class SandboxStatus(models.TextChoices):
    PROVISIONING = "provisioning"
    READY = "ready"  # in the warm pool, no session
    IN_USE = "in_use"  # leased by a session
    HIBERNATING = "hibernating"  # leased, idle: its processes are being stopped
    HIBERNATED = "hibernated"  # leased, idle: processes stopped, workspace kept; the next turn wakes it
    WAKING = "waking"  # leased: its processes are being started again
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"  # died or never started; its remains are removed


# Live: the DB holds its instance (the reaper removes no such instance; one per session at most).
LIVE_STATUSES = (
    SandboxStatus.PROVISIONING,
    SandboxStatus.READY,
    SandboxStatus.IN_USE,
    SandboxStatus.HIBERNATING,
    SandboxStatus.HIBERNATED,
    SandboxStatus.WAKING,
)
# In passage: another caller is starting or stopping its processes; wait for it to settle.
PASSING_STATUSES = (SandboxStatus.PROVISIONING, SandboxStatus.HIBERNATING, SandboxStatus.WAKING)


class Sandbox(models.Model):
    """One sandbox of one backend. A session leases at most one live sandbox at a time.

    The endpoint columns (URLs, socket, token) are private: no API, log line or admin page
    shows them.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    backend = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=SandboxStatus.choices, default=SandboxStatus.PROVISIONING)
    session = models.ForeignKey(
        "chat_sessions.Session", null=True, blank=True, on_delete=models.SET_NULL, related_name="sandboxes"
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    isolation = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="")
    # Private endpoint.
    tool_api_url = models.CharField(max_length=200, blank=True, default="")
    tool_api_socket = models.CharField(max_length=300, blank=True, default="")
    token = models.CharField(max_length=100, blank=True, default="")
    cdp_url = models.CharField(max_length=200, blank=True, default="")
    vnc_ws_url = models.CharField(max_length=200, blank=True, default="")
    home = models.CharField(max_length=200, blank=True, default="")
    services = models.CharField(max_length=50, blank=True, default="")

    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "sandboxes"  # the admin would say "sandboxs"
        ordering = ["-created_at"]
        constraints = [
            # Two acquires for one session can never both hold a live sandbox.
            models.UniqueConstraint(
                fields=["session"],
                condition=Q(status__in=["provisioning", "ready", "in_use", "hibernating", "hibernated", "waking"]),
                name="sandbox_one_live_per_session",
            )
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="sandbox_status_created")]

    def __str__(self) -> str:
        return f"{self.id} ({self.backend}, {self.status})"
