"""Sandboxes in the admin: status, backend, session, age, lease; destroy and extend-lease.

The endpoint columns (URLs, socket, token) are never shown.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.timesince import timesince

from .backends import get_backend
from .models import Sandbox
from .services import sandbox_destroy, sandbox_extend_lease
from .tasks import pool_refill

EXTEND_LEASE_MINUTES = 60


@admin.register(Sandbox)
class SandboxAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "backend", "session", "age", "lease_expires_at", "services")
    list_filter = ("status", "backend")
    search_fields = ("id", "session__id")
    ordering = ("-created_at",)
    fields = (
        "id",
        "status",
        "backend",
        "isolation",
        "session",
        "services",
        "home",
        "lease_expires_at",
        "created_at",
        "ready_at",
        "claimed_at",
        "stopped_at",
        "error",
    )
    readonly_fields = fields
    actions = ("destroy_sandboxes", "extend_lease", "refill_pool")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # sandboxes are started by the pool or by a session, not by hand

    @admin.display(description="age")
    def age(self, obj: Sandbox) -> str:
        return timesince(obj.created_at, timezone.now())

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        backend = get_backend()
        # A short header; each sandbox's page says how it is isolated.
        subtitle = (
            f"{backend.name} backend · warm pool of {settings.SANDBOX_POOL_SIZE} · "
            f"leases end after {settings.SANDBOX_TTL_MINUTES} min idle"
        )
        return super().changelist_view(request, {**(extra_context or {}), "title": "Sandboxes", "subtitle": subtitle})

    # Actions need the matching permission: without `allowed_permissions` anyone who may view
    # the list could run them.
    @admin.action(description="Destroy the selected sandboxes", permissions=["delete"])
    def destroy_sandboxes(self, request: HttpRequest, queryset: QuerySet[Sandbox]) -> None:
        done = sum(sandbox_destroy(sandbox_id=str(pk)) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, f"Destroyed {done} sandbox(es); the others were not live.", messages.SUCCESS)

    @admin.action(description=f"Extend the lease by {EXTEND_LEASE_MINUTES} minutes", permissions=["change"])
    def extend_lease(self, request: HttpRequest, queryset: QuerySet[Sandbox]) -> None:
        done = sum(
            sandbox_extend_lease(sandbox_id=str(pk), minutes=EXTEND_LEASE_MINUTES)
            for pk in queryset.values_list("pk", flat=True)
        )
        self.message_user(request, f"Extended {done} lease(s); only in-use sandboxes have one.", messages.SUCCESS)

    @admin.action(description="Refill the warm pool now", permissions=["change"])
    def refill_pool(self, request: HttpRequest, queryset: QuerySet[Sandbox]) -> None:
        pool_refill.delay()
        self.message_user(request, "The pool refill was queued.", messages.SUCCESS)
