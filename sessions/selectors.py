"""Reads, always scoped to the caller: a session of another user does not exist."""

from typing import Any

from django.db.models import QuerySet

from anker_project.errors import NotFoundError
from anker_project.principal import Principal

from . import eventlog
from .models import Session

# Streamed tokens are live-only in the history: the final `message` carries the full text.
HISTORY_EXCLUDED_TYPES = ("message_delta",)


def _visible(principal: Principal) -> QuerySet[Session]:
    """A user sees all of their sessions; an API key only those of its own jobs."""
    sessions = Session.objects.filter(owner_id=principal.user_id)
    if principal.api_key_id is not None:
        sessions = sessions.filter(api_key_id=principal.api_key_id)
    return sessions


def session_list(*, principal: Principal) -> QuerySet[Session]:
    return _visible(principal).order_by("-updated_at")


def session_get(*, principal: Principal, session_id: str) -> Session:
    session = _visible(principal).filter(pk=session_id).first()
    if session is None:
        raise NotFoundError("Session not found")
    return session


def session_visible(*, principal: Principal, session_id: str) -> bool:
    return _visible(principal).filter(pk=session_id).exists()


def session_list_item(session: Session) -> dict[str, Any]:
    """The seed's list item, plus `mode` and `origin` ("job" for a job's session)."""
    return {
        "session_id": session.id,
        "title": session.title,
        "latest_message": session.latest_message,
        "latest_message_at": int(session.latest_message_at.timestamp()) if session.latest_message_at else None,
        "status": session.status,
        "unread_message_count": session.unread_message_count,
        "mode": session.mode,
        "origin": session.origin,
    }


def session_history(*, session_id: str) -> list[dict[str, Any]]:
    """Every stored event as the wire's `{event, data}`, in seq order."""
    events = eventlog.events_after(session_id, 0, exclude_types=HISTORY_EXCLUDED_TYPES)
    return [{"event": ev["type"], "data": ev} for ev in events]
