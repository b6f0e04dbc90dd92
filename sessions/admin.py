from typing import Any

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from . import eventlog
from .models import Session

TIMELINE_LIMIT = 500


def _summary(event: dict[str, Any]) -> str:
    kind = event["type"]
    if kind in ("message", "message_delta"):
        text = event.get("content") or event.get("delta") or ""
        return f"{event.get('role', '')}: {text[:300]}"
    if kind == "reasoning":
        return f"thinking: {event.get('content', '')[:300]}"
    if kind == "tool":
        return f"{event.get('function')} {event.get('status')} {str(event.get('args'))[:200]}"
    if kind in ("plan",):
        return "; ".join(f"{s['id']}. {s['description'][:60]} [{s['status']}]" for s in event.get("steps", []))
    for key in ("title", "error", "status", "description"):
        if key in event:
            return str(event[key])[:300]
    return ""


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "owner", "mode", "status", "latest_message_at", "updated_at")
    list_filter = ("status", "mode")
    search_fields = ("id", "title", "owner__username")
    readonly_fields = (
        "id",
        "owner",
        "status",
        "latest_message",
        "latest_message_at",
        "created_at",
        "updated_at",
        "timeline",
    )
    fields = (
        "id",
        "owner",
        "title",
        "mode",
        "status",
        "latest_message",
        "latest_message_at",
        "created_at",
        "updated_at",
        "timeline",
    )

    @admin.display(description="Event timeline (from the event log)")
    def timeline(self, obj: Session) -> str:
        events = eventlog.events_after(obj.id, 0, exclude_types=("message_delta",), limit=TIMELINE_LIMIT)
        if not events:
            return "No events."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td style='white-space:pre-wrap'>{}</td></tr>",
            ((ev["seq"], ev["type"], (ev.get("turn_id") or "")[:8], _summary(ev)) for ev in events),
        )
        return format_html("<table><tr><th>seq</th><th>type</th><th>turn</th><th>what</th></tr>{}</table>", rows)
