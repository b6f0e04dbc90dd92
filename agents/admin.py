from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from sessions.admin import SessionAdmin
from sessions.models import Session

from .models import Turn
from .services import session_delete_with_work, turn_stop


@admin.register(Turn)
class TurnAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "session",
        "mode",
        "status",
        "created_at",
        "started_at",
        "finished_at",
        "prompt_tokens",
        "completion_tokens",
    )
    list_filter = ("status", "mode")
    search_fields = ("id", "session__id", "session__owner__username")
    readonly_fields = [f.name for f in Turn._meta.fields]
    actions = ["stop_sessions"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    # Stopping work changes it: view-only staff must not (allowed_permissions).
    @admin.action(description="Stop the selected turns' sessions", permissions=["change"])
    def stop_sessions(self, request: HttpRequest, queryset: QuerySet[Turn]) -> None:
        stopped = 0
        for session in {turn.session for turn in queryset.select_related("session")}:
            stopped += turn_stop(session_id=session.id)
        self.message_user(request, f"Asked {stopped} active turn(s) to stop.", messages.SUCCESS)


class SessionWithWorkAdmin(SessionAdmin):
    """The sessions admin of `sessions`, whose deletes go through `session_delete_with_work`:
    the session's turns stop and its event log, agent memory, files and sandbox go with it.
    Registered here because that cleanup spans the layers below `agents`."""

    def delete_model(self, request: HttpRequest, obj: Session) -> None:
        session_delete_with_work(session_id=obj.id)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Session]) -> None:
        for session in queryset:
            session_delete_with_work(session_id=session.id)


admin.site.unregister(Session)
admin.site.register(Session, SessionWithWorkAdmin)


from .reach import admin as _reach_admin  # noqa: E402, F401 - registers MCP servers, tool rules, secrets
