"""A turn's end, recorded once (compare-and-set from `running`) and told to readers: the
session's status, then the terminal event (`done`, `error` or `wait`; a rollback instead),
then the apps above through `agents.hooks.turn_ended`."""

from __future__ import annotations

from django.utils import timezone

from sessions.events import DoneEvent, ErrorEvent, StatusEvent, WaitEvent
from sessions.publisher import event_publish, events_roll_back

from ..control import StopReason
from ..hooks import turn_ended
from ..memory import memory_roll_back
from ..models import Turn, TurnStatus
from ..runtime import TurnContext
from ..stopping import turn_close_open_work


def _finish(ctx: TurnContext, status: str, *, error: str = "", reason: str | None = None) -> str:
    """Record the turn's end, then tell readers: session status, then the terminal event."""
    updated = Turn.objects.filter(pk=ctx.turn_id, status=TurnStatus.RUNNING).update(
        status=status,
        finished_at=timezone.now(),
        error=error,
    )
    if not updated or reason == StopReason.DELETED:
        return "gone"
    session_id, turn_id, end_key = ctx.session_id, ctx.turn_id, f"turn:{ctx.turn_id}:end"
    if status == TurnStatus.FAILED:
        event_publish(session_id, StatusEvent(status="failed", turn_id=turn_id))
        event_publish(session_id, ErrorEvent(error=error, turn_id=turn_id), dedupe_key=end_key)
    elif status == TurnStatus.WAITING:
        event_publish(session_id, StatusEvent(status="waiting", turn_id=turn_id))
        event_publish(session_id, WaitEvent(turn_id=turn_id, approval=ctx.approval), dedupe_key=end_key)
    elif status == TurnStatus.CANCELLED and reason == StopReason.ROLLBACK:
        # Nothing of the turn stays: its memory as it started, its events gone but one `rollback`.
        memory_roll_back(session_id=session_id, turn_id=turn_id)
        events_roll_back(session_id, turn_ids=[turn_id], from_seq=ctx.message_seq, turn_id=turn_id)
    elif status == TurnStatus.CANCELLED:
        turn_close_open_work(
            session_id=session_id, turn_id=turn_id, after_seq=ctx.message_seq, plan_too=reason != StopReason.INTERRUPT
        )
        # An interrupted turn hands the session to the next turn, which says `running`.
        if reason != StopReason.INTERRUPT:
            event_publish(session_id, StatusEvent(status="stopped", turn_id=turn_id))
        event_publish(session_id, DoneEvent(turn_id=turn_id), dedupe_key=end_key)
    else:
        event_publish(session_id, StatusEvent(status="completed", turn_id=turn_id))
        event_publish(session_id, DoneEvent(turn_id=turn_id), dedupe_key=end_key)
    turn_ended(turn_id=turn_id, status=str(status))  # the apps above (jobs) hear of it here
    return str(status)
