"""Reads, always scoped to the caller: a session of another user does not exist."""

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from anker_project.errors import NotFoundError

from . import eventlog
from .models import Session

# Streamed tokens are live-only in the history: the final `message` carries the full text.
HISTORY_EXCLUDED_TYPES = ("message_delta",)


def session_list(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Session]:
    return Session.objects.filter(owner_id=user.pk).order_by("-updated_at")


def session_get(*, user: AbstractBaseUser | AnonymousUser, session_id: str) -> Session:
    session = Session.objects.filter(owner_id=user.pk, pk=session_id).first()
    if session is None:
        raise NotFoundError("Session not found")
    return session


def session_owned(*, user_id: int, session_id: str) -> bool:
    return Session.objects.filter(owner_id=user_id, pk=session_id).exists()


def session_list_item(session: Session) -> dict[str, Any]:
    """The seed's list item, plus `mode`."""
    return {
        "session_id": session.id,
        "title": session.title,
        "latest_message": session.latest_message,
        "latest_message_at": int(session.latest_message_at.timestamp()) if session.latest_message_at else None,
        "status": session.status,
        "unread_message_count": session.unread_message_count,
        "mode": session.mode,
    }


def session_history(*, session_id: str) -> list[dict[str, Any]]:
    """Every stored event as the wire's `{event, data}`, in seq order."""
    events = eventlog.events_after(session_id, 0, exclude_types=HISTORY_EXCLUDED_TYPES)
    return [{"event": ev["type"], "data": ev} for ev in events]
