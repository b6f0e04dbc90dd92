"""Staff create and revoke job API keys (the key is shown once) and watch webhook deliveries."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from .models import Job, JobApiKey, Schedule, ScheduleRun, WebhookAttempt, WebhookDelivery
from .schedules import SCHEDULE_EDITABLE, ScheduleInvalidError, schedule_update
from .services import webhook_redeliver

# Only our keys authenticate; the library's own key model would be a confusing dead end.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


@admin.register(JobApiKey)
class JobApiKeyAdmin(APIKeyModelAdmin):
    list_display = (  # type: ignore[assignment]
        *APIKeyModelAdmin.list_display,
        "owner",
        "max_concurrent_jobs",
        "rate_limit_per_minute",
        "default_multitask_strategy",
    )
    list_filter = ("created", "revoked")  # type: ignore[assignment]
    search_fields = ("name", "prefix", "owner__username")  # type: ignore[assignment]
    autocomplete_fields = ("owner",)

    # A key acts for its owner: staff who may add keys must not mint one that acts for a
    # superuser, or for anyone but themselves, unless they are superusers. The owner of an
    # existing key never changes (that would be minting one for the new owner).
    def get_autocomplete_fields(self, request: HttpRequest) -> tuple[str, ...]:
        return ("owner",) if getattr(request.user, "is_superuser", False) else ()

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fields = tuple(super().get_readonly_fields(request, obj))
        return (*fields, "owner") if obj is not None else fields

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "owner" and not getattr(request.user, "is_superuser", False):
            kwargs["queryset"] = get_user_model().objects.filter(pk=request.user.pk or 0)
            kwargs["initial"] = request.user.pk
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Any, form: Any = None, change: bool = False) -> None:
        created = not obj.pk
        if created and not getattr(request.user, "is_superuser", False) and obj.owner_id != request.user.pk:
            raise PermissionDenied("Only superusers create API keys for other users.")
        super().save_model(request, obj, form, change)
        if created:
            # The library's message (warning level) shows the key once; the secret goes with it.
            messages.warning(
                request,
                f"The webhook secret of {obj.name} is: {obj.webhook_secret}. "
                "Webhooks of this key are signed with it (X-Anker-Signature).",
            )


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = ("number", "status_code", "error", "duration_ms", "created_at")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "job", "event", "status", "attempt_count", "next_attempt_at", "created_at", "delivered_at")
    list_filter = ("status", "event")
    search_fields = ("id", "job__id", "url")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    inlines = [WebhookAttemptInline]
    actions = ["redeliver"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    # Sending requests out on the key's behalf changes state: the change permission, not view.
    @admin.action(
        description="Redeliver the selected webhooks (new deliveries, fresh retry schedule)", permissions=["change"]
    )
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        for delivery in queryset:
            webhook_redeliver(delivery_id=str(delivery.pk))
        self.message_user(request, f"Queued {queryset.count()} redelivery(ies).", messages.SUCCESS)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "api_key", "status", "mode", "priority", "created_at", "started_at", "finished_at")
    list_filter = ("status", "mode")
    search_fields = ("id", "owner__username", "session__id", "idempotency_key")
    readonly_fields = [f.name for f in Job._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class ScheduleRunInline(admin.TabularInline):
    model = ScheduleRun
    extra = 0
    can_delete = False
    readonly_fields = ("fire_at", "manual", "outcome", "missed_count", "job", "error", "created_at")
    ordering = ("-fire_at",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "api_key", "cron", "timezone", "enabled", "overlap_policy", "next_run_at")
    list_filter = ("enabled", "overlap_policy", "timezone")
    search_fields = ("id", "name", "owner__username", "cron")
    readonly_fields = ("id", "owner", "api_key", "next_run_at", "last_run_at", "created_at", "updated_at")
    fields = (
        *readonly_fields[:3],
        "name",
        "cron",
        "timezone",
        "start_at",
        "end_at",
        "enabled",
        "overlap_policy",
        "job",
        *readonly_fields[3:],
    )
    inlines = [ScheduleRunInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made by their owners (API or web app), which also check the job body

    def save_model(self, request: HttpRequest, obj: Any, form: Any = None, change: bool = False) -> None:
        # Through the service, so the cron is checked and the next fire planned again.
        changes = {name: getattr(obj, name) for name in SCHEDULE_EDITABLE}
        try:
            schedule_update(schedule_id=str(obj.pk), changes=changes)
        except ScheduleInvalidError as exc:
            messages.error(request, exc.message)
