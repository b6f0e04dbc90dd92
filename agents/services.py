"""The work: start, run, stop and clean up turns. Every state change of a turn is here."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from redis.exceptions import LockError

from anker_project.errors import ApplicationError, ConflictError, UnavailableError
from anker_project.redis_client import get_redis
from sandboxes.services import SandboxUnavailableError, sandbox_release_for_session
from sessions.events import DoneEvent, ErrorEvent, FileInfo, MessageEvent, StatusEvent, WaitEvent
from sessions.files import file_get, files_delete_of_session
from sessions.models import Session, SessionMode, SessionStatus
from sessions.publisher import event_publish, events_roll_back
from sessions.services import session_create, session_delete

from .control import StopReason, session_turn_lock, turn_stop_reason, turn_stop_request
from .hooks import turn_ended, turn_queue
from .llm import LLMError, LLMStopped
from .memory import memory_delete, memory_mark_turn_start, memory_roll_back
from .model_choice import model_check, session_model_set
from .models import ACTIVE_TURN_STATUSES, FINISHED_TURN_STATUSES, Turn, TurnStatus
from .multitask import (
    DEFAULT_MULTITASK_STRATEGY,
    SUBMIT_LOCK_SECONDS,
    SUBMIT_LOCK_WAIT_SECONDS,
    MultitaskStrategy,
)
from .runtime import Heartbeat, TurnContext, TurnOutcome, TurnStopped, worker_draining
from .stopping import turn_close_open_work

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 100_000


class SessionBusyError(Exception):
    """Another turn of the session holds its lock; try again shortly."""


def turn_enqueue(turn: Turn, queue: str = "turns") -> None:
    from .tasks import run_turn

    # Stamped before the send: a send that fails leaves a stamp the watchdog's requeue acts on.
    Turn.objects.filter(pk=turn.pk).update(enqueued_at=timezone.now())
    run_turn.apply_async(kwargs={"turn_id": str(turn.id), "session_id": turn.session_id}, queue=queue)


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


def turns_end_active(*, session: Session, reason: str) -> int:
    """End the session's work for an app above (a job replacing another): queued turns are
    cancelled (rolled back with `StopReason.ROLLBACK`), running ones asked to stop for `reason`.
    Returns how many turns were active."""
    return _end_active_turns(session, reason)[0]


def chat_send(
    *,
    session: Session,
    message: str,
    attachments: Sequence[str] = (),
    queue: str = "turns",
    multitask_strategy: str = DEFAULT_MULTITASK_STRATEGY,
) -> Turn | None:
    """Append the user's message and queue the turn that answers it.

    `attachments` are ids of the owner's files (a foreign id is a 404); they are stored on
    the message event and copied into the sandbox before the turn. A turn still running in
    the session follows `multitask_strategy`: `interrupt` (it ends at its next safe point and
    the new turn starts once it has), `rollback` (the same, and its events and agent memory
    since it started are discarded: one `rollback` event), `reject` (a ConflictError; nothing
    changes) or `enqueue` (the new turn stays queued and runs after the turns ahead of it, in
    order). An empty message starts nothing.
    """
    if len(message) > MAX_MESSAGE_CHARS:
        raise ApplicationError(f"message is longer than {MAX_MESSAGE_CHARS} characters")
    if not message.strip():
        return None
    if multitask_strategy not in MultitaskStrategy.values:
        raise ApplicationError(f"multitask_strategy: one of {', '.join(MultitaskStrategy.values)}")
    files = [file_get(owner_id=session.owner_id, file_id=file_id).info() for file_id in attachments]
    # One submission per session at a time: "is it busy?" and what follows are one decision.
    lock = get_redis().lock(f"anker:chat-submit:{session.id}", timeout=SUBMIT_LOCK_SECONDS)
    if not lock.acquire(blocking_timeout=SUBMIT_LOCK_WAIT_SECONDS):
        raise UnavailableError("Too many messages for this session at once: send again in a moment.")
    try:
        return _chat_send_locked(
            session=session, message=message, files=files, queue=queue, multitask_strategy=multitask_strategy
        )
    finally:
        with contextlib.suppress(LockError):  # expired: nothing left to release
            lock.release()


def _chat_send_locked(
    *, session: Session, message: str, files: list[FileInfo], queue: str, multitask_strategy: str
) -> Turn:
    if multitask_strategy == MultitaskStrategy.REJECT:
        if Turn.objects.filter(session=session, status__in=ACTIVE_TURN_STATUSES).exists():
            raise ConflictError(
                "The session is still answering a message (multitask_strategy=reject): "
                "wait for its end, or send with interrupt or enqueue."
            )
    elif multitask_strategy == MultitaskStrategy.INTERRUPT:
        _end_active_turns(session, StopReason.INTERRUPT)
    elif multitask_strategy == MultitaskStrategy.ROLLBACK:
        _end_active_turns(session, StopReason.ROLLBACK)
    # No transaction around the publishes: holding the database's write lock across Mongo and
    # Redis calls serialises every writer behind this one (SQLite has a single writer).
    turn = Turn.objects.create(session=session, mode=session.mode, message=message)
    try:
        event = event_publish(
            session.id, MessageEvent(role="user", content=message, attachments=files, turn_id=str(turn.id))
        )
    except Exception:
        turn.delete()  # nothing was said: leave no turn that would never run
        raise
    Turn.objects.filter(pk=turn.pk).update(message_seq=event["seq"])
    turn.message_seq = event["seq"]
    # Published before the turn is queued, so it precedes everything the turn publishes. After a
    # rollback too: the `running` the log had may have been a discarded turn's.
    if session.status != SessionStatus.RUNNING or multitask_strategy == MultitaskStrategy.ROLLBACK:
        event_publish(session.id, StatusEvent(status="running", turn_id=str(turn.id)))
    # Queued once the caller's transaction (if any) commits, so the worker finds the turn.
    transaction.on_commit(lambda: turn_enqueue(turn, queue))
    return turn


def turn_retry(*, session: Session) -> Turn:
    """Run the session's last user message again, in a new turn: after an error or a stop, or to
    get another answer ("Regenerate"). The history stays: the earlier answer (or error) remains in
    the log, and the new turn answers the conversation up to that message."""
    last = Turn.objects.filter(session=session).order_by("-created_at").first()
    if last is None:
        raise ConflictError("There is no message to retry yet: send one.")
    if last.status in ACTIVE_TURN_STATUSES:
        raise ConflictError("The last message is still being answered: stop it first, or wait for its end.")
    if last.status == TurnStatus.WAITING:
        raise ConflictError("Anker is waiting for your reply: answer its question instead.")
    turn = Turn.objects.create(session=session, mode=session.mode, message=last.message, message_seq=last.message_seq)
    event_publish(session.id, StatusEvent(status="running", turn_id=str(turn.id)))
    transaction.on_commit(lambda: turn_enqueue(turn))
    return turn


def session_create_with_message(
    *, owner_id: int, mode: str, message: str = "", attachments: Sequence[str] = (), model: str = ""
) -> Session:
    """Create a session and, with a message, queue its first turn. Everything that could refuse the
    message (its length, a foreign attachment) is checked before the session exists."""
    if len(message) > MAX_MESSAGE_CHARS:
        raise ApplicationError(f"message is longer than {MAX_MESSAGE_CHARS} characters")
    for file_id in attachments:
        file_get(owner_id=owner_id, file_id=file_id)
    model = model_check(model)  # a model not in LLM_MODELS: 422 before anything exists
    session = session_create(owner_id=owner_id, mode=mode)
    if model:
        session_model_set(session_id=session.id, model=model)
    if message.strip():
        chat_send(session=session, message=message, attachments=attachments)
    return session


def turn_stop(*, session: Session) -> int:
    """Stop the session's work. The session ends `stopped`; returns how many turns were active."""
    count, asked = _end_active_turns(session, StopReason.STOP)
    # A turn that was running publishes its own end (even if it ended just now, before our
    # request: then it already has); otherwise the session is settled here.
    if not asked and (count or session.status in (SessionStatus.RUNNING, SessionStatus.WAITING)):
        # A waiting session still shows the step that asked: end it (and the plan) in the log.
        turn_close_open_work(session_id=session.id, turn_id=None, after_seq=0, plan_too=True)
        event_publish(session.id, StatusEvent(status="stopped"))
    return count


def session_delete_with_work(*, session: Session) -> None:
    """Stop what the session runs, then delete it with its log, its agent memory and its files."""
    _end_active_turns(session, StopReason.DELETED)
    sandbox_release_for_session(session_id=session.id)
    memory_delete(session_id=session.id)
    files_delete_of_session(session_id=session.id)
    session_delete(session=session)


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
    from .agent import AgentLimitError, run_agent
    from .chat import run_lite

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


def turns_watchdog() -> dict[str, int]:
    """End or resume turns whose worker stopped beating.

    A stale turn that was asked to stop is cancelled; otherwise it is queued again to
    resume from its checkpoint, up to TURN_MAX_RESUMES times, after which it fails with
    an error that says why.
    """
    stale_before = timezone.now() - timedelta(seconds=settings.TURN_STALE_SECONDS)
    counts = {"cancelled": 0, "resumed": 0, "failed": 0}
    for turn in Turn.objects.filter(status=TurnStatus.RUNNING, heartbeat_at__lt=stale_before):
        lock = session_turn_lock(turn.session_id)
        if lock.locked():
            continue  # its worker still holds the lock: slow, not dead
        ctx = TurnContext(
            turn_id=str(turn.id),
            session_id=turn.session_id,
            mode=turn.mode,
            message=turn.message,
            message_seq=turn.message_seq,
            needs_title=False,
        )
        reason = turn_stop_reason(str(turn.id))
        if reason is not None:
            _finish(ctx, TurnStatus.CANCELLED, reason=reason)
            counts["cancelled"] += 1
        elif turn.resume_count < settings.TURN_MAX_RESUMES:
            Turn.objects.filter(pk=turn.pk, status=TurnStatus.RUNNING).update(heartbeat_at=timezone.now())
            # A job's turn resumes on the jobs queue, so batch work never takes the chat pool.
            turn_enqueue(turn, queue=turn_queue(session_id=turn.session_id))
            counts["resumed"] += 1
        else:
            _finish(
                ctx,
                TurnStatus.FAILED,
                error=(
                    f"The worker running this turn stopped responding {turn.resume_count + 1} times; "
                    "the turn was ended. Check the worker's logs and send your message again."
                ),
            )
            counts["failed"] += 1
    return counts


def turns_requeue_lost() -> int:
    """Send run_turn again for turns still `queued` TURN_REQUEUE_SECONDS after it was last sent.

    Their message was lost (a broker restart without persistence) or never sent; without this
    the session would never answer. The stamp is moved by compare-and-set, so two watchdogs
    never both send, and run_turn is idempotent, so a message that was only slow costs a skip.
    Returns how many turns were sent again.
    """
    bound = timezone.now() - timedelta(seconds=settings.TURN_REQUEUE_SECONDS)
    stale = Turn.objects.filter(status=TurnStatus.QUEUED).filter(
        Q(enqueued_at__lt=bound) | Q(enqueued_at__isnull=True, created_at__lt=bound)
    )
    count = 0
    for turn in stale.select_related("session"):
        if not Turn.objects.filter(pk=turn.pk, status=TurnStatus.QUEUED, enqueued_at=turn.enqueued_at).update(
            enqueued_at=timezone.now()
        ):
            continue  # started, cancelled or requeued by someone else meanwhile
        logger.warning(
            "turn %s was still queued %s s after it was sent; sending it again", turn.pk, settings.TURN_REQUEUE_SECONDS
        )
        turn_enqueue(turn, queue=turn_queue(session_id=turn.session_id))
        count += 1
    return count
