"""Deleting a session with everything it has: its work stopped, its sandbox given back, its
agent memory, its files, its event log and its row."""

from __future__ import annotations

from sandboxes.services import sandbox_release_for_session
from sessions.files import files_delete_of_session
from sessions.services import session_delete

from ..control import StopReason
from ..memory import memory_delete
from .stop import _end_active_turns, session_by_id


def session_delete_with_work(*, session_id: str) -> None:
    """Stop what the session runs, then delete it with its log, its agent memory and its files."""
    _end_active_turns(session_by_id(session_id), StopReason.DELETED)
    sandbox_release_for_session(session_id=session_id)
    memory_delete(session_id=session_id)
    files_delete_of_session(session_id=session_id)
    session_delete(session_id=session_id)
