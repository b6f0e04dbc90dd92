"""MCP servers, tool rules (allow | ask | block), secrets, what a session may use, and the
approvals its tool calls wait for."""

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from sessions.models import Session

SERVER_NAME_RE = r"^[a-z][a-z0-9]{0,19}$"
SECRET_NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
TOOL_PATTERN_RE = r"^[A-Za-z0-9_*?-]{1,100}$"


class McpTransport(models.TextChoices):
    STDIO = "stdio"  # a command run inside the session's sandbox
    HTTP = "http"  # a streamable-HTTP endpoint, called from the worker


class McpServer(models.Model):
    """An MCP server whose tools the agent gets as `mcp_<name>_<tool>`. No owner: every user's
    (staff add these in the admin)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="mcp_servers"
    )
    name = models.CharField(
        max_length=20,
        validators=[RegexValidator(SERVER_NAME_RE, "lowercase letters and digits, starting with a letter")],
    )
    transport = models.CharField(max_length=8, choices=McpTransport.choices)
    command = models.JSONField(default=list, blank=True, help_text='stdio: the argv, e.g. ["python3", "server.py"]')
    env = models.JSONField(default=dict, blank=True, help_text="stdio: extra environment; ${SECRET} is replaced")
    url = models.URLField(max_length=2000, blank=True, default="", help_text="http: the MCP endpoint")
    headers = models.JSONField(default=dict, blank=True, help_text="http: request headers; ${SECRET} is replaced")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="mcp_server_owner_name"),
            models.UniqueConstraint(fields=["name"], condition=Q(owner__isnull=True), name="mcp_server_global_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.transport}{', global' if self.owner_id is None else ''})"


class ToolAction(models.TextChoices):
    ALLOW = "allow"
    ASK = "ask"  # the call waits for the user's approval
    BLOCK = "block"  # the tool is not offered to the model


class ToolRule(models.Model):
    """`pattern` (a tool name, `*` and `?` wildcards) -> action. No owner: the global rules."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="tool_rules"
    )
    pattern = models.CharField(
        max_length=100, validators=[RegexValidator(TOOL_PATTERN_RE, "letters, digits, _ - and the wildcards * ?")]
    )
    action = models.CharField(max_length=8, choices=ToolAction.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pattern"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "pattern"], name="tool_rule_owner_pattern"),
            models.UniqueConstraint(fields=["pattern"], condition=Q(owner__isnull=True), name="tool_rule_global"),
        ]

    def __str__(self) -> str:
        return f"{self.pattern}: {self.action}"


class Secret(models.Model):
    """A user's named secret, Fernet-encrypted. Its value is never shown again after it is saved."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="secrets")
    name = models.CharField(max_length=128)
    ciphertext = models.TextField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="secret_owner_name")]

    def __str__(self) -> str:
        return self.name


class SessionReach(models.Model):
    """What one session may use beyond its owner's defaults: the secrets its sandbox gets, MCP
    servers defined by its job, and the job's and API key's tool rules."""

    session = models.OneToOneField(Session, primary_key=True, on_delete=models.CASCADE, related_name="reach")
    secret_names = models.JSONField(default=list, blank=True)
    mcp_servers = models.JSONField(default=list, blank=True)  # McpServerSpec dumps
    job_rules = models.JSONField(default=dict, blank=True)  # pattern -> action
    api_key_rules = models.JSONField(default=dict, blank=True)
    model = models.CharField(max_length=200, blank=True, default="")  # a name from LLM_MODELS; "" = MODEL_NAME
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"reach of session {self.session_id}"


class ApprovalStatus(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"  # the user sent a new message instead


class ToolApproval(models.Model):
    """A tool call waiting for (or given) the user's decision."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="tool_approvals")
    turn_id = models.UUIDField()
    tool_call_id = models.CharField(max_length=200)
    tool = models.CharField(max_length=100)
    args = models.JSONField(default=dict)
    reason = models.TextField(blank=True, default="")
    status = models.CharField(max_length=10, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING)
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["session", "tool_call_id"], name="approval_session_call")]

    def __str__(self) -> str:
        return f"{self.tool} ({self.status})"
