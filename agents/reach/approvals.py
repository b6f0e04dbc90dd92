"""Tool calls that wait for the user: ask, decide, resume.

A call whose tool the policy says `ask` is stored as a pending `ToolApproval` and the turn ends
`waiting` with a `wait` event carrying the request. The user's decision is `decisions.approval_decide`
(it starts a turn, so it lives above the agent loop that imports this module).
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from .models import ApprovalStatus, ToolApproval


def approval_request(
    *, session_id: str, turn_id: str, tool_call_id: str, tool: str, args: dict[str, Any], reason: str
) -> ToolApproval:
    """The pending approval of a call (created once: a resumed turn asks for the same call again)."""
    approval, _ = ToolApproval.objects.get_or_create(
        session_id=session_id,
        tool_call_id=tool_call_id,
        defaults={"turn_id": turn_id, "tool": tool, "args": args, "reason": reason[:4000]},
    )
    return approval


def approval_decision(*, session_id: str, tool_call_id: str) -> str | None:
    """approved | denied | pending for a call that was asked about, else None."""
    return (
        ToolApproval.objects.filter(session_id=session_id, tool_call_id=tool_call_id)
        .values_list("status", flat=True)
        .first()
    )


def approval_note(*, session_id: str, tool_call_id: str) -> str:
    return (
        ToolApproval.objects.filter(session_id=session_id, tool_call_id=tool_call_id)
        .values_list("note", flat=True)
        .first()
        or ""
    )


def approvals_expire(*, session_id: str) -> int:
    """The user moved on (a new message): pending calls will not run."""
    return ToolApproval.objects.filter(session_id=session_id, status=ApprovalStatus.PENDING).update(
        status=ApprovalStatus.EXPIRED, decided_at=timezone.now()
    )


def approval_pending_of_session(*, session_id: str) -> ToolApproval | None:
    return ToolApproval.objects.filter(session_id=session_id, status=ApprovalStatus.PENDING).first()
