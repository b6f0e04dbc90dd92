"""The user's decision on a call that waits for approval (web app, API, or a job's `/approve`):
recorded compare-and-set, then a turn with no message starts that carries on with the same plan —
an approved call runs, a denied one gets the denial as its result.

Apart from `approvals` because it starts a turn: the agent loop imports `approvals`, and the
turn queue (`agents.services`) imports the agent loop.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from anker_project.errors import ConflictError, NotFoundError
from sessions.events import StatusEvent
from sessions.models import Session
from sessions.publisher import event_publish

from ..hooks import turn_queue
from ..models import ACTIVE_TURN_STATUSES, Turn, TurnStatus
from ..services import turn_enqueue  # stamps enqueued_at for the lost-turn requeue
from .models import ApprovalStatus, ToolAction, ToolApproval, ToolRule


def approval_decide(
    *,
    session_id: str,
    tool_call_id: str,
    approve: bool,
    note: str = "",
    always: bool = False,
    queue: str | None = None,
) -> tuple[ToolApproval, Turn]:
    """Record the user's decision and start the turn that carries on.

    404: no such call was asked about in this session. 409: it is not waiting any more
    (decided, expired) or the session is busy with another turn. The caller has checked that its
    principal may write to the session."""
    session = Session.objects.filter(pk=session_id).first()
    if session is None:
        raise NotFoundError("Session not found")
    approval = ToolApproval.objects.filter(session=session, tool_call_id=tool_call_id).first()
    if approval is None:
        raise NotFoundError(f"no tool call {tool_call_id[:200]!r} asked for approval in this session")
    if approval.status != ApprovalStatus.PENDING:
        raise ConflictError(f"tool call {tool_call_id[:200]!r} is not waiting for approval (it is {approval.status})")
    if Turn.objects.filter(session=session, status__in=ACTIVE_TURN_STATUSES).exists():
        raise ConflictError("the session is running another turn; stop it or wait for it first")
    waiting = Turn.objects.filter(pk=approval.turn_id, status=TurnStatus.WAITING).exists()
    status = ApprovalStatus.APPROVED if approve else ApprovalStatus.DENIED
    with transaction.atomic():
        if not waiting or not ToolApproval.objects.filter(pk=approval.pk, status=ApprovalStatus.PENDING).update(
            status=status, note=note[:4000], decided_at=timezone.now()
        ):
            raise ConflictError(f"tool call {tool_call_id[:200]!r} is not waiting for approval any more")
        if approve and always:
            ToolRule.objects.update_or_create(
                owner_id=session.owner_id, pattern=approval.tool, defaults={"action": ToolAction.ALLOW}
            )
        turn = Turn.objects.create(session=session, mode=session.mode, message="")
    # Published before the turn is queued, so it precedes everything the turn publishes.
    event_publish(session.id, StatusEvent(status="running", turn_id=str(turn.id)))
    target = queue or turn_queue(session_id=session.id)  # a job's turns run on the jobs queue
    transaction.on_commit(lambda: turn_enqueue(turn, target))
    approval.refresh_from_db()
    return approval, turn
