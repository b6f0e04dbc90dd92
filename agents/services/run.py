"""Running a turn on a worker: the session lock, the heartbeat, the agent or lite loop, and
how its end is decided (finished, failed, stopped, handed over by a stopping worker, or lost
to another worker)."""

from __future__ import annotations

import logging
import threading

from django.db.models import DateTimeField, F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from sandboxes.services import SandboxUnavailableError
from sessions.models import SessionMode

from ..control import StopReason, session_turn_lock
from ..hooks import turn_queue
from ..llm import LLMError, LLMStopped
from ..memory import memory_mark_turn_start
from ..models import FINISHED_TURN_STATUSES, Turn, TurnStatus
from ..runtime import Heartbeat, TurnContext, TurnOutcome, TurnStopped, worker_draining
from .finish import _finish
from .queueing import turn_enqueue

logger = logging.getLogger(__name__)


class SessionBusyError(Exception):
    """Another turn of the session holds its lock; try again shortly."""


def turn_run(*, turn_id: str) -> str:
    """Run a turn to its end. Idempotent: a finished turn is a no-op, and a turn whose
    worker died (it is `running` and its session lock has expired) is resumed.

    Raises SessionBusyError when another turn of the session is still running.
    """
    turn = Turn.objects.filter(pk=turn_id).select_related("session").first()
    if turn is None or turn.status in FINISHED_TURN_STATUSES:
        return "skipped"
    if (
        turn.status == TurnStatus.QUEUED
        and Turn.objects.filter(
            session_id=turn.session_id, status=TurnStatus.QUEUED, created_at__lt=turn.created_at
        ).exists()
    ):
        # Enqueued messages run in the order they were sent: an older one goes first.
        raise SessionBusyError(turn.session_id)
    lock = session_turn_lock(turn.session_id)
    if not lock.acquire(blocking=False):
        if turn.status == TurnStatus.RUNNING:
            # A second message for a turn that runs (a requeue raced its pickup): the worker running
            # it holds the lock, and if that worker dies the watchdog resumes the turn.
            return "skipped"
        raise SessionBusyError(turn.session_id)
    try:
        now = timezone.now()
        resumed = False
        # A turn handed over by a stopping worker is queued again: it keeps its first start.
        if not Turn.objects.filter(pk=turn_id, status=TurnStatus.QUEUED).update(
            status=TurnStatus.RUNNING,
            started_at=Coalesce(F("started_at"), Value(now, output_field=DateTimeField())),
            heartbeat_at=now,
        ):
            # Not queued: either finished meanwhile, or running with a dead worker (we hold
            # the lock its heartbeat would have kept).
            if not Turn.objects.filter(pk=turn_id, status=TurnStatus.RUNNING).update(
                heartbeat_at=now, resume_count=F("resume_count") + 1
            ):
                return "skipped"
            resumed = True
        ctx = TurnContext(
            turn_id=str(turn.id),
            session_id=turn.session_id,
            mode=turn.mode,
            message=turn.message,
            message_seq=turn.message_seq,
            needs_title=not turn.session.title,
            resumed=resumed,
        )
        if turn.mode == SessionMode.AGENT:
            memory_mark_turn_start(session_id=turn.session_id, turn_id=str(turn.id))  # what a rollback puts back
        lost = threading.Event()
        sandbox_session_id = turn.session_id if turn.mode == SessionMode.AGENT else None
        resume_count = Turn.objects.filter(pk=turn_id).values_list("resume_count", flat=True).first() or 0
        with Heartbeat(str(turn.id), lock, lost, sandbox_session_id=sandbox_session_id, resume_count=resume_count):
            outcome = _execute(ctx, lost)
    finally:
        try:
            lock.release()
        except Exception:  # expired or taken over; nothing left to release
            logger.debug("session lock of turn %s already gone", turn_id)
    if outcome == HANDED_OVER:
        # Sent once the lock is free, so the next worker can start at once.
        turn_enqueue(turn, queue=turn_queue(session_id=turn.session_id))
        logger.info("turn %s handed over: this worker is stopping; another resumes it from its checkpoint", turn_id)
    return outcome


def _execute(ctx: TurnContext, lock_lost: threading.Event) -> str:
    from ..agent import AgentLimitError, run_agent
    from ..chat import run_lite

    original_stop = ctx.stop_requested

    def stop_requested() -> bool:
        # A stopping worker lets lite turns (one model call) finish; agent turns stop at their next
        # safe point and are handed over.
        draining = ctx.mode == SessionMode.AGENT and worker_draining()
        return lock_lost.is_set() or original_stop() or draining

    ctx.stop_requested = stop_requested  # type: ignore[method-assign]
    try:
        ctx.check_stop()
        outcome = run_agent(ctx) if ctx.mode == SessionMode.AGENT else run_lite(ctx)
    except (TurnStopped, LLMStopped):
        if lock_lost.is_set():
            return _lost(ctx)
        if ctx.stop_reason is None and worker_draining():
            return _hand_over(ctx)
        return _finish(ctx, TurnStatus.CANCELLED, reason=ctx.stop_reason or StopReason.STOP)
    except (LLMError, AgentLimitError) as exc:
        return _finish(ctx, TurnStatus.FAILED, error=exc.user_message)
    except SandboxUnavailableError as exc:  # says why (not ready in time, image missing, ...)
        return _finish(ctx, TurnStatus.FAILED, error=exc.message)
    except Exception as exc:
        logger.exception("turn %s crashed", ctx.turn_id)
        message = (
            f"Anker hit an internal error while answering ({type(exc).__name__}). "
            "The details are in the worker's log; try again."
        )
        return _finish(ctx, TurnStatus.FAILED, error=message)
    if lock_lost.is_set():
        return _lost(ctx)
    status = TurnStatus.WAITING if outcome is TurnOutcome.WAITING else TurnStatus.COMPLETED
    return _finish(ctx, status)


HANDED_OVER = "handed-over"


def _hand_over(ctx: TurnContext) -> str:
    """This worker is stopping: the turn is queued again, with nothing published. Its memory was
    checkpointed after its last tool result, so the next worker goes on from there; a tool call
    cut short is run again, under the same tool_call_id."""
    if not Turn.objects.filter(pk=ctx.turn_id, status=TurnStatus.RUNNING).update(
        status=TurnStatus.QUEUED, heartbeat_at=None
    ):
        return "gone"  # stopped or ended by someone else meanwhile
    return HANDED_OVER


def _lost(ctx: TurnContext) -> str:
    """This worker lost the session lock: the turn was presumed dead and another worker resumed
    it. The turn's end is that worker's to record; writing it here would cancel its work."""
    logger.warning("turn %s was taken over by another worker; leaving it to that worker", ctx.turn_id)
    return "lost"
