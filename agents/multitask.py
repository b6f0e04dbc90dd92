"""Double-texting: what a new message does to a session that is still answering one."""

from __future__ import annotations

from django.db import models


class MultitaskStrategy(models.TextChoices):
    REJECT = "reject", "Refuse the new message (409); nothing changes"
    INTERRUPT = "interrupt", "Stop the running turn at its next safe point, keep its history, start the new one"
    ENQUEUE = "enqueue", "Queue the new message; it runs after the turns ahead of it, in order"
    ROLLBACK = (
        "rollback",
        "Stop the running turn and discard its events and agent memory (files it wrote stay), then start the new one",
    )


DEFAULT_MULTITASK_STRATEGY = MultitaskStrategy.INTERRUPT

# Submissions to one session are decided one at a time, so "busy or not" is never stale.
SUBMIT_LOCK_SECONDS = 30
SUBMIT_LOCK_WAIT_SECONDS = 20
