"""Sending a turn to the workers: the one place that enqueues `agents.run_turn` (the service ↔
task pattern: the task module imports the services, this imports the task lazily)."""

from __future__ import annotations

from django.utils import timezone

from ..models import Turn


def turn_enqueue(turn: Turn, queue: str = "turns") -> None:
    from ..tasks import run_turn

    # Stamped before the send: a send that fails leaves a stamp the watchdog's requeue acts on.
    Turn.objects.filter(pk=turn.pk).update(enqueued_at=timezone.now())
    run_turn.apply_async(kwargs={"turn_id": str(turn.id), "session_id": turn.session_id}, queue=queue)
