import secrets

from django.conf import settings
from django.db import models


def new_session_id() -> str:
    return secrets.token_hex(8)


class SessionStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    COMPLETED = "completed"
    STOPPED = "stopped"  # the user stopped its work: not a success, not a failure
    FAILED = "failed"


class SessionMode(models.TextChoices):
    AGENT = "agent", "Agent (plans and uses tools in a sandbox)"
    LITE = "lite", "Lite (one model answer, no tools)"


class SessionOrigin(models.TextChoices):
    CHAT = "chat"  # the owner's own conversation
    JOB = "job"  # the session of a job submitted with an API key


class Session(models.Model):
    """A conversation. Its events live in the event log (MongoDB), keyed by `id`.

    `title`, `status` and the `latest_message*` columns are a summary of the log, kept
    by `session_apply_event` so the session list is one indexed query.
    """

    id = models.CharField(primary_key=True, max_length=32, default=new_session_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_sessions")
    title = models.CharField(max_length=200, blank=True, default="")
    mode = models.CharField(max_length=16, choices=SessionMode.choices, default=SessionMode.AGENT)
    status = models.CharField(max_length=16, choices=SessionStatus.choices, default=SessionStatus.PENDING)
    latest_message = models.TextField(blank=True, default="")
    latest_message_at = models.DateTimeField(null=True, blank=True)
    unread_message_count = models.PositiveIntegerField(default=0)
    # Bumped by every summary update (services.py). Processes read the row and push it to the
    # session list at different moments; readers keep the highest revision, so an older
    # snapshot that arrives late never overwrites a newer one.
    revision = models.PositiveBigIntegerField(default=0)
    # The API key whose job this session belongs to (an opaque principal id: the key lives in
    # the jobs app). Such a key sees only sessions carrying its id; null = the owner's own chat.
    api_key_id = models.CharField(max_length=150, null=True, blank=True, default=None, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [
            models.Index(fields=["owner", "-updated_at"], name="session_owner_recent"),
            models.Index(fields=["api_key_id", "-updated_at"], name="session_key_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.title or '(untitled)'}"

    @property
    def origin(self) -> str:
        return SessionOrigin.JOB if self.api_key_id is not None else SessionOrigin.CHAT


def new_share_id() -> str:
    return secrets.token_hex(8)


class ShareLink(models.Model):
    """A read-only link to a session's timeline (`/share/<token>`), for anyone who has it.

    The token is shown once, when the link is created; only its SHA-256 is kept, so a copy of
    the database opens nothing. A link is live until `revoked_at` is set or `expires_at` passes;
    it dies with its session (cascade).
    """

    id = models.CharField(primary_key=True, max_length=32, default=new_share_id, editable=False)
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="share_links")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The token's first characters, so an owner can tell their links apart (not enough to guess it).
    token_hint = models.CharField(max_length=8, editable=False)
    # The API key that created it (an opaque principal id, as on Session); null = the owner.
    api_key_id = models.CharField(max_length=150, null=True, blank=True, default=None, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["session", "-created_at"], name="share_session_recent")]

    def __str__(self) -> str:
        return f"{self.id} {self.token_hint}… of {self.session_id}"
