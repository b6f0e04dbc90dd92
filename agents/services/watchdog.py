"""The safety net beat runs: turns whose worker stopped beating are ended or resumed, and
turns whose queue message was lost are sent again."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ..control import session_turn_lock, turn_stop_reason
from ..hooks import turn_queue
from ..models import Turn, TurnStatus
from ..runtime import TurnContext
from .finish import _finish
from .queueing import turn_enqueue

logger = logging.getLogger(__name__)


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
