"""Sending: the user's message appended and the turn that answers it queued; a retry of the
last message; a new session with its first message. What happens to a turn still running is
the `multitask_strategy`'s (see `stop` for how a turn is ended)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from django.db import transaction
from redis.exceptions import LockError

from anker_project.errors import ApplicationError, ConflictError, UnavailableError
from anker_project.redis_client import get_redis
from sessions.events import FileInfo, MessageEvent, StatusEvent
from sessions.files import file_get
from sessions.models import Session, SessionStatus
from sessions.publisher import event_publish
from sessions.services import session_create

from ..control import StopReason
from ..model_choice import model_check, session_model_set
from ..models import ACTIVE_TURN_STATUSES, Turn, TurnStatus
from ..multitask import (
    DEFAULT_MULTITASK_STRATEGY,
    SUBMIT_LOCK_SECONDS,
    SUBMIT_LOCK_WAIT_SECONDS,
    MultitaskStrategy,
)
from .queueing import turn_enqueue
from .stop import _end_active_turns, session_by_id

MAX_MESSAGE_CHARS = 100_000


def chat_send(
    *,
    session_id: str,
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
    order). An empty message starts nothing. The caller has checked that its principal may
    write to the session.
    """
    if len(message) > MAX_MESSAGE_CHARS:
        raise ApplicationError(f"message is longer than {MAX_MESSAGE_CHARS} characters")
    if not message.strip():
        return None
    if multitask_strategy not in MultitaskStrategy.values:
        raise ApplicationError(f"multitask_strategy: one of {', '.join(MultitaskStrategy.values)}")
    session = session_by_id(session_id)
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
    busy = Turn.objects.filter(session=session, status__in=ACTIVE_TURN_STATUSES)
    if multitask_strategy == MultitaskStrategy.REJECT and busy.exists():
        raise ConflictError(
            "The session is still answering a message (multitask_strategy=reject): "
            "wait for its end, or send with interrupt or enqueue."
        )
    interrupted = 0
    if multitask_strategy == MultitaskStrategy.INTERRUPT:
        interrupted = _end_active_turns(session, StopReason.INTERRUPT)[0]
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
    # After an interrupt too: each interrupted turn publishes its `done`, and readers must not take
    # that for the end of the work (callers that passed a session read before it ran always got it).
    if session.status != SessionStatus.RUNNING or multitask_strategy == MultitaskStrategy.ROLLBACK or interrupted:
        event_publish(session.id, StatusEvent(status="running", turn_id=str(turn.id)))
    # Queued once the caller's transaction (if any) commits, so the worker finds the turn.
    transaction.on_commit(lambda: turn_enqueue(turn, queue))
    return turn


def turn_retry(*, session_id: str) -> Turn:
    """Run the session's last user message again, in a new turn: after an error or a stop, or to
    get another answer ("Regenerate"). The history stays: the earlier answer (or error) remains in
    the log, and the new turn answers the conversation up to that message."""
    session = session_by_id(session_id)
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
        chat_send(session_id=session.id, message=message, attachments=attachments)
    return session
