"""Staff configure global MCP servers and global tool rules here; secrets show names only."""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from .mcp_servers import McpServerInvalidError, mcp_server_spec_check
from .models import McpServer, Secret, ToolApproval, ToolRule


class McpServerForm(forms.ModelForm):
    class Meta:
        model = McpServer
        fields = ["owner", "name", "transport", "command", "env", "url", "headers", "enabled"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            mcp_server_spec_check({k: data.get(k) for k in ("name", "transport", "command", "env", "url", "headers")})
        except McpServerInvalidError as exc:
            raise forms.ValidationError(exc.message) from exc
        return data


@admin.register(McpServer)
class McpServerAdmin(admin.ModelAdmin):
    form = McpServerForm
    list_display = ["name", "transport", "owner", "enabled", "created_at"]
    list_filter = ["transport", "enabled"]
    search_fields = ["name", "owner__username"]
    raw_id_fields = ["owner"]


@admin.register(ToolRule)
class ToolRuleAdmin(admin.ModelAdmin):
    list_display = ["pattern", "action", "owner", "created_at"]
    list_filter = ["action"]
    search_fields = ["pattern", "owner__username"]
    raw_id_fields = ["owner"]


@admin.register(Secret)
class SecretAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "created_at", "updated_at"]
    search_fields = ["name", "owner__username"]
    fields = ("owner", "name", "created_at", "updated_at")
    readonly_fields = ("owner", "name", "created_at", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # values are set by their owner only, through the API


@admin.register(ToolApproval)
class ToolApprovalAdmin(admin.ModelAdmin):
    list_display = ["tool", "status", "session", "created_at", "decided_at"]
    list_filter = ["status"]
    readonly_fields = [
        "session",
        "turn_id",
        "tool_call_id",
        "tool",
        "args",
        "reason",
        "status",
        "note",
        "created_at",
        "decided_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
