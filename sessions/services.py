"""Every write to sessions and their event log."""

from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest

from anker_project.errors import ApplicationError, NotFoundError

from . import eventlog
from .live import group_send, key_sessions_group, user_sessions_group
from .models import Session, SessionMode
from .selectors import session_list_item

LATEST_MESSAGE_CHARS = 500


def _list_groups(session: Session) -> list[str]:
    """The session lists that show this session: its owner's, and its API key's."""
    groups = [user_sessions_group(session.owner_id)]
    if session.api_key_id is not None:
        groups.append(key_sessions_group(session.api_key_id))
    return groups


def _notify_list(session: Session) -> None:
    message = {
        "type": "sessions.update",
        "payload": {"op": "upsert", "revision": session.revision, "session": session_list_item(session)},
    }
    for group in _list_groups(session):
        group_send(group, message)


def session_create(
    *, owner_id: int, mode: str = SessionMode.LITE, api_key_id: str | None = None, announce: bool = True
) -> Session:
    """A new session; `api_key_id` makes it the session of that key's job (visible to the key).

    It is announced to the session lists that show it, unless `announce` is false: then the
    caller announces it later (`session_announce`) or publishes its first event, which does."""
    if mode not in SessionMode.values:
        raise ApplicationError(f"mode must be one of {', '.join(SessionMode.values)}")
    session = Session.objects.create(owner_id=owner_id, mode=mode, api_key_id=api_key_id)
    if announce:
        _notify_list(session)
    return session


def session_announce(*, session_id: str) -> None:
    """Send the session, as it is now, to the session lists that show it (an upsert)."""
    session = Session.objects.filter(pk=session_id).first()
    if session is not None:  # deleted meanwhile: its removal was sent
        _notify_list(session)


def session_rename(*, session_id: str, title: str) -> Session:
    """Give the session a title (trimmed, at most 200 characters); returns the renamed row."""
    title = title.strip()
    if not title:
        raise ApplicationError("title must not be empty")
    if not Session.objects.filter(pk=session_id).update(title=title[:200], revision=F("revision") + 1):
        raise NotFoundError("Session not found")  # deleted meanwhile
    session = Session.objects.get(pk=session_id)
    _notify_list(session)
    return session


def session_mark_read(*, session_id: str) -> Session:
    """Clear the unread count; returns the session as it is now."""
    # Compare-and-set: only a session with something unread changes (and bumps its revision once).
    changed = Session.objects.filter(pk=session_id, unread_message_count__gt=0).update(
        unread_message_count=0, revision=F("revision") + 1
    )
    session = Session.objects.filter(pk=session_id).first()
    if session is None:
        raise NotFoundError("Session not found")  # deleted meanwhile
    if changed:
        _notify_list(session)
    return session


SUMMARY_EVENT_TYPES = frozenset({"message", "title", "status"})


def session_summary_changes(event: dict[str, Any]) -> bool:
    """Whether the event changes the session row's summary (the others never touch the row)."""
    return event.get("type") in SUMMARY_EVENT_TYPES


def session_apply_event(session_id: str, event: dict[str, Any]) -> None:
    """Keep the session row's summary (title, status, latest message) in step with its log."""
    kind = event.get("type")
    updates: dict[str, Any] = {}
    if kind == "message":
        updates["latest_message"] = str(event.get("content", ""))[:LATEST_MESSAGE_CHARS]
        updates["latest_message_at"] = datetime.fromtimestamp(int(event["timestamp"]), tz=UTC)
        if event.get("role") == "assistant":
            updates["unread_message_count"] = F("unread_message_count") + 1
    elif kind == "title":
        updates["title"] = str(event.get("title", ""))[:200]
    elif kind == "status":
        updates["status"] = event["status"]
    if not updates:
        return
    updates["revision"] = F("revision") + 1
    with transaction.atomic():
        if not Session.objects.filter(pk=session_id).update(**updates):
            return  # deleted meanwhile
    session = Session.objects.get(pk=session_id)
    _notify_list(session)


def session_summary_after_rollback(*, session_id: str, discarded_answers: int) -> None:
    """After a rollback: the latest message is the newest one the log still has, and the answers
    discarded unread no longer count as unread."""
    kept = eventlog.events_of_types(session_id, ("message",), limit=1)
    latest = kept[0] if kept else None
    updates: dict[str, Any] = {
        "latest_message": str(latest.get("content", ""))[:LATEST_MESSAGE_CHARS] if latest else "",
        "latest_message_at": datetime.fromtimestamp(int(latest["timestamp"]), tz=UTC) if latest else None,
        "revision": F("revision") + 1,
    }
    if discarded_answers:
        updates["unread_message_count"] = Greatest(F("unread_message_count") - discarded_answers, 0)
    if Session.objects.filter(pk=session_id).update(**updates):
        _notify_list(Session.objects.get(pk=session_id))


def session_delete(*, session_id: str) -> None:
    """Delete the session, its log and its row. Work it started is the caller's to stop."""
    session = Session.objects.filter(pk=session_id).first()
    eventlog.events_delete(session_id)
    if session is None:
        return  # deleted meanwhile: its log is gone now too
    groups = _list_groups(session)
    session.delete()
    for group in groups:
        group_send(group, {"type": "sessions.update", "payload": {"op": "remove", "session_id": session_id}})
