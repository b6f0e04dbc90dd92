"""The work: start, run, stop and clean up turns. Every state change of a turn is here, one
module per part of a turn's life:

- `send`: the user's message and the turn that answers it (`chat_send`), a retry, a new
  session with its first message.
- `stop`: ending a session's work (queued turns cancelled, running ones asked to stop).
- `delete`: a session deleted with its work, sandbox, memory and files.
- `run`: a turn run on a worker to its end (lock, heartbeat, the agent or lite loop).
- `finish`: a turn's end recorded and told to readers and to the apps above.
- `watchdog`: turns of dead workers ended or resumed, lost queue messages sent again.
- `queueing`: `turn_enqueue`, the one place that sends `agents.run_turn`.

Imports run send → stop, queueing; delete → stop; run, watchdog → finish, queueing.
`queueing` reaches `agents.tasks` lazily (the service ↔ task pattern), and `agents.tasks`
imports `run` and `watchdog` directly. Callers import from `agents.services`, which
re-exports the public names below.
"""

from .delete import session_delete_with_work
from .queueing import turn_enqueue
from .run import HANDED_OVER, SessionBusyError, turn_run
from .send import MAX_MESSAGE_CHARS, chat_send, session_create_with_message, turn_retry
from .stop import turn_stop, turns_end_active
from .watchdog import turns_requeue_lost, turns_watchdog

__all__ = [
    "HANDED_OVER",
    "MAX_MESSAGE_CHARS",
    "SessionBusyError",
    "chat_send",
    "session_create_with_message",
    "session_delete_with_work",
    "turn_enqueue",
    "turn_retry",
    "turn_run",
    "turn_stop",
    "turns_end_active",
    "turns_requeue_lost",
    "turns_watchdog",
]
