"""Deleting a session with everything it has: its work stopped, its sandbox given back, its
agent memory, its files, its event log and its row."""

from __future__ import annotations

from sandboxes.services import sandbox_release_for_session
from sessions.files import files_delete_of_session
from sessions.models import Session
from sessions.services import session_delete

from ..control import StopReason
from ..memory import memory_delete
from .stop import _end_active_turns


def session_delete_with_work(*, session: Session) -> None:
    """Stop what the session runs, then delete it with its log, its agent memory and its files."""
    _end_active_turns(session, StopReason.DELETED)
    sandbox_release_for_session(session_id=session.id)
    memory_delete(session_id=session.id)
    files_delete_of_session(session_id=session.id)
    session_delete(session=session)
