"""Where apps above `agents` (today `jobs`) hear about turns, without `agents` importing them.

Imports run jobs → agents → sandboxes → sessions: `agents` must not import `jobs`, yet a job
has to learn when its turn ends, and a job's turn resumes on the job's queue. So the apps
above register plain functions here from their `AppConfig.ready()`, and `agents` calls
whatever is registered:

- `turn_end_hooks`: called once at every turn's end (`agents.services.finish._finish`), after the
  terminal event is published, with `turn_id` and the turn's final `status`. A hook is
  synchronous and runs in the worker that ended the turn; it may call down into
  `agents.services` (e.g. start the job's next turn) but must not end the same turn again.
  An exception propagates to the caller, like any other failure at the turn's end.
- `turn_queue_resolvers`: asked, in order, which Celery queue a turn of a session resumes on
  (the watchdog's resume); the first answer that is not None wins, else `turns`.
- `turn_pending_resolvers`: asked whether a turn of a session is about to start though no turn
  row exists yet (a job the jobs worker has not started). A reader following the session waits
  for that turn instead of ending at once.

Registration is idempotent (registering the same function twice keeps one), so a repeated
`ready()` in tests does not double the calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class TurnEndHook(Protocol):
    def __call__(self, *, turn_id: str, status: str) -> None: ...


class TurnQueueResolver(Protocol):
    def __call__(self, *, session_id: str) -> str | None: ...


class TurnPendingResolver(Protocol):
    def __call__(self, *, session_id: str) -> bool: ...


DEFAULT_TURN_QUEUE = "turns"

turn_end_hooks: list[TurnEndHook] = []
turn_queue_resolvers: list[TurnQueueResolver] = []
turn_pending_resolvers: list[TurnPendingResolver] = []


def _register(registry: list[Callable[..., object]], hook: Callable[..., object]) -> None:
    if hook not in registry:
        registry.append(hook)


def register_turn_end_hook(hook: TurnEndHook) -> None:
    _register(turn_end_hooks, hook)  # type: ignore[arg-type]


def register_turn_queue_resolver(resolver: TurnQueueResolver) -> None:
    _register(turn_queue_resolvers, resolver)  # type: ignore[arg-type]


def register_turn_pending_resolver(resolver: TurnPendingResolver) -> None:
    _register(turn_pending_resolvers, resolver)  # type: ignore[arg-type]


def turn_ended(*, turn_id: str, status: str) -> None:
    """Tell the apps above that a turn ended with `status`."""
    for hook in list(turn_end_hooks):
        hook(turn_id=turn_id, status=status)


def turn_queue(*, session_id: str) -> str:
    """The queue a turn of this session runs on: a registered app's answer, else `turns`."""
    for resolver in list(turn_queue_resolvers):
        queue = resolver(session_id=session_id)
        if queue is not None:
            return queue
    return DEFAULT_TURN_QUEUE


def turn_pending(*, session_id: str) -> bool:
    """True when a registered app is about to start a turn of this session (none is running)."""
    return any(resolver(session_id=session_id) for resolver in list(turn_pending_resolvers))
