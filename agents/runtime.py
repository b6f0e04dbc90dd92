"""What a running turn works with: its context (publish, stop checks, usage) and its heartbeat."""

from __future__ import annotations

import enum
import logging
import threading
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from django.db.models import F
from django.utils import timezone
from redis.exceptions import LockError
from redis.lock import Lock

from sandboxes.hibernation import sandbox_mark_idle
from sandboxes.services import sandbox_touch
from sessions.events import ApprovalRequest, Event
from sessions.publisher import event_publish

from .control import StopReason, turn_stop_reason
from .models import Turn, TurnStatus

logger = logging.getLogger(__name__)


# Set in a worker process when it is asked to shut down (SIGTERM, a deploy): its agent turns stop
# at their next safe point and are handed to another worker, resuming from their checkpoint.
_draining = threading.Event()


def worker_drain() -> None:
    _draining.set()


def worker_draining() -> bool:
    return _draining.is_set()


def db_release() -> None:
    """Give this thread's database connection back before a wait of seconds: a model call, a tool
    call, the sandbox's start. On PostgreSQL it goes back to the worker's pool (settings/base.py),
    and the next query checks one out again (~0.1 ms), so a turn waiting on its model holds no
    connection: 100 turns in flight do not need 100 (PostgreSQL's default max_connections).

    Nothing is given back inside a transaction (it lives on its connection), nor on SQLite: it has
    no connection limit, an idle connection there holds no lock, and reopening it reruns the
    pragmas (settings/base.py) for nothing."""
    if connection.vendor == "sqlite" or connection.in_atomic_block:
        return
    connection.close()


class TurnOutcome(enum.Enum):
    COMPLETED = "completed"
    WAITING = "waiting"


class TurnStopped(Exception):  # noqa: N818 - a signal, not an error
    """The turn was asked to stop (stop, interrupt or delete); `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class TurnContext:
    turn_id: str
    session_id: str
    mode: str
    message: str
    message_seq: int
    needs_title: bool
    resumed: bool = False
    approval: ApprovalRequest | None = None  # the tool call a `waiting` end asks the user to approve
    _stop_reason: str | None = field(default=None, repr=False)

    def stop_requested(self) -> bool:
        if self._stop_reason is None:
            self._stop_reason = turn_stop_reason(self.turn_id)
        return self._stop_reason is not None

    @property
    def stop_reason(self) -> str | None:
        return self._stop_reason

    def check_stop(self) -> None:
        if self.stop_requested():
            raise TurnStopped(self._stop_reason or StopReason.STOP)

    def publish(self, event: Event, *, dedupe_key: str | None = None) -> dict[str, object]:
        """Publish an event of this turn; a deleted session gets nothing more."""
        if self._stop_reason == StopReason.DELETED:
            raise TurnStopped(StopReason.DELETED)
        event.turn_id = self.turn_id
        return event_publish(self.session_id, event, dedupe_key=dedupe_key)

    def add_usage(self, prompt_tokens: int, completion_tokens: int) -> None:
        """Count a model call's tokens on the turn's row at once, so a worker that dies later
        (and the worker that resumes the turn) loses none of what was spent."""
        if prompt_tokens or completion_tokens:
            Turn.objects.filter(pk=self.turn_id).update(
                prompt_tokens=F("prompt_tokens") + prompt_tokens,
                completion_tokens=F("completion_tokens") + completion_tokens,
            )


class Heartbeat:
    """While a turn runs: extends the session lock and stamps `heartbeat_at`.

    LLM time counts as activity: the heartbeat runs on threads of its own whatever the turn is
    waiting on. The lock is renewed on one thread and the database stamped on another, so a
    database slowed down by load never delays the lock past its expiry. A lock that expired all
    the same (this worker stalled longer than TURN_LOCK_SECONDS) is taken back if no other worker
    took it and nobody resumed the turn meanwhile; if the turn was taken over, it is told to stop.
    With a `sandbox_session_id` (agent turns) it also renews that session's sandbox lease, so a
    long model call never lets the reaper take the sandbox.
    """

    def __init__(
        self,
        turn_id: str,
        lock: Lock,
        on_lost: threading.Event,
        *,
        sandbox_session_id: str | None = None,
        resume_count: int = 0,
    ) -> None:
        self.turn_id = turn_id
        self.sandbox_session_id = sandbox_session_id
        self.resume_count = resume_count  # this run's: a higher one means another worker resumed the turn
        self.lock = lock
        self.lost = on_lost
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._keep_lock, name=f"turn-lock-{turn_id[:8]}", daemon=True),
            threading.Thread(target=self._keep_stamping, name=f"heartbeat-{turn_id[:8]}", daemon=True),
        ]

    def __enter__(self) -> Heartbeat:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        if self.sandbox_session_id:
            self._sandbox_idle(self.sandbox_session_id)

    @staticmethod
    def _sandbox_idle(session_id: str) -> None:
        """The turn is done with its sandbox: it hibernates once idle (its timer starts now)."""
        try:
            sandbox_mark_idle(session_id=session_id)
        except Exception:  # beat's safety-net sweep hibernates it later
            logger.warning("could not arm the idle timer of session %s's sandbox", session_id, exc_info=True)

    def _keep_lock(self) -> None:
        interval = settings.TURN_HEARTBEAT_SECONDS
        try:
            while not self._stop.wait(interval):
                try:
                    self.lock.reacquire()
                except LockError:
                    if self._take_back():
                        continue
                    logger.warning("turn %s lost its session lock", self.turn_id)
                    self.lost.set()
                    return
                except Exception:  # Redis unreachable for a moment: the lock may well hold still
                    logger.warning("could not renew the session lock of turn %s", self.turn_id, exc_info=True)
        except Exception:
            # A turn nobody beats for is taken over once its lock expires: stop it rather than run it twice.
            logger.exception("heartbeat of turn %s failed", self.turn_id)
            self.lost.set()
        finally:
            connection.close()

    def _take_back(self) -> bool:
        """The lock expired under a live turn. Take it again (same token) unless another worker
        holds it; keep it only if the turn is still this run's (running, resumed by nobody since).
        A run_turn the watchdog sent meanwhile then finds the lock held and skips."""
        try:
            if not self.lock.acquire(blocking=False, token=self.lock.local.token):
                return False
            try:
                ours = Turn.objects.filter(
                    pk=self.turn_id, status=TurnStatus.RUNNING, resume_count=self.resume_count
                ).exists()
            finally:
                connection.close()  # this thread holds no connection between beats
            if ours:
                logger.warning("turn %s: its session lock expired while this worker stalled; taken back", self.turn_id)
                return True
            self.lock.release()
        except Exception:
            logger.warning("could not take back the session lock of turn %s", self.turn_id, exc_info=True)
        return False

    def _keep_stamping(self) -> None:
        interval = settings.TURN_HEARTBEAT_SECONDS
        try:
            while not self._stop.wait(interval):
                self._stamp()
        finally:
            connection.close()

    def _stamp(self) -> None:
        """The database part of a beat. A failure (a database restarting, a dropped connection)
        skips this beat only: the lock, renewed on its own thread, keeps the turn.

        The connection is closed after each beat: held between beats, every running turn kept a
        database connection of its own besides its worker thread's, and a worker with 100 threads
        on PostgreSQL ran out of connections ("too many clients")."""
        try:
            try:
                Turn.objects.filter(pk=self.turn_id, status=TurnStatus.RUNNING).update(heartbeat_at=timezone.now())
            except Exception:
                logger.warning("could not stamp the heartbeat of turn %s", self.turn_id, exc_info=True)
                return
            if self.sandbox_session_id:
                self._renew_sandbox_lease(self.sandbox_session_id)
        finally:
            connection.close()

    @staticmethod
    def _renew_sandbox_lease(session_id: str) -> None:
        """The one place a turn renews its sandbox's lease; a missed renewal is retried at the next beat."""
        try:
            sandbox_touch(session_id=session_id)
        except Exception:
            logger.warning("could not renew the sandbox lease of session %s", session_id, exc_info=True)
