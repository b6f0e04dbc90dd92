"""Ending a session's work: queued turns are cancelled here, running ones are asked to stop
(their worker, or the watchdog for a dead one, publishes their end through `finish`)."""

from __future__ import annotations

from django.utils import timezone

from anker_project.errors import NotFoundError
from sessions.events import DoneEvent, StatusEvent
from sessions.models import Session, SessionStatus
from sessions.publisher import event_publish, events_roll_back

from ..control import StopReason, turn_stop_request
from ..hooks import turn_ended
from ..models import ACTIVE_TURN_STATUSES, Turn, TurnStatus
from ..stopping import turn_close_open_work


def session_by_id(session_id: str) -> Session:
    """The session a service changes, read now (the caller has checked its principal may)."""
    session = Session.objects.filter(pk=session_id).first()
    if session is None:
        raise NotFoundError("Session not found")
    return session


def _cancel_queued(turn: Turn, *, end_event: bool = True) -> bool:
    """Cancel a turn no worker has started; its readers get `done` (unless the caller ends it
    otherwise: a rollback)."""
    now = timezone.now()
    if not Turn.objects.filter(pk=turn.pk, status=TurnStatus.QUEUED).update(
        status=TurnStatus.CANCELLED, finished_at=now
    ):
        return False
    if end_event:
        event_publish(turn.session_id, DoneEvent(turn_id=str(turn.id)), dedupe_key=f"turn:{turn.id}:end")
    # Every turn's end reaches the apps above, this one too: a job whose queued turn a chat
    # message interrupted ends with it instead of running forever.
    turn_ended(turn_id=str(turn.id), status=TurnStatus.CANCELLED)
    return True


def _end_active_turns(session: Session, reason: str) -> tuple[int, int]:
    """Cancel queued turns and ask running ones to stop. With `StopReason.ROLLBACK` the queued
    ones are rolled back here (one `rollback` event) and the running one by its worker.

    Returns how many were active, and how many of them were asked to stop (a worker, or the
    watchdog for a dead one, publishes their end)."""
    active = list(Turn.objects.filter(session=session, status__in=ACTIVE_TURN_STATUSES))
    asked = 0
    rolled_back: list[Turn] = []
    for turn in active:
        if _cancel_queued(turn, end_event=reason != StopReason.ROLLBACK):
            rolled_back.append(turn)
        else:
            turn_stop_request(str(turn.id), reason)
            asked += 1
    if reason == StopReason.ROLLBACK and rolled_back:
        events_roll_back(
            session.id,
            turn_ids=[str(t.id) for t in rolled_back],
            from_seq=min(t.message_seq for t in rolled_back),
            turn_id=None,
        )
    return len(active), asked


def turns_end_active(*, session_id: str, reason: str) -> int:
    """End the session's work for an app above (a job replacing another): queued turns are
    cancelled (rolled back with `StopReason.ROLLBACK`), running ones asked to stop for `reason`.
    Returns how many turns were active."""
    return _end_active_turns(session_by_id(session_id), reason)[0]


def turn_stop(*, session_id: str) -> int:
    """Stop the session's work. The session ends `stopped`; returns how many turns were active."""
    session = session_by_id(session_id)
    count, asked = _end_active_turns(session, StopReason.STOP)
    # A turn that was running publishes its own end (even if it ended just now, before our
    # request: then it already has); otherwise the session is settled here.
    if not asked and (count or session.status in (SessionStatus.RUNNING, SessionStatus.WAITING)):
        # A waiting session still shows the step that asked: end it (and the plan) in the log.
        turn_close_open_work(session_id=session.id, turn_id=None, after_seq=0, plan_too=True)
        event_publish(session.id, StatusEvent(status="stopped"))
    return count
