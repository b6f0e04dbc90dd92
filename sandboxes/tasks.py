"""Celery tasks (queue `sandboxes`): thin wrappers around one service each."""

from celery import shared_task

from .hibernation import sandbox_hibernate_if_idle, sandboxes_hibernate_idle
from .services.lifecycle import sandbox_create, sandbox_destroy
from .services.pool import sandbox_pool_refill
from .services.reaper import sandboxes_reap


@shared_task(name="sandboxes.reap")
def reap() -> dict[str, int]:
    return sandboxes_reap()


@shared_task(name="sandboxes.hibernate_idle")
def hibernate_idle() -> int:
    """Beat's safety net (every SANDBOX_IDLE_SWEEP_SECONDS): the idle timers do the work."""
    return sandboxes_hibernate_idle()


@shared_task(name="sandboxes.hibernate_if_idle")
def hibernate_if_idle(sandbox_id: str, lease: str) -> bool:
    """A sandbox's idle timer (armed by `sandbox_mark_idle`, idempotent)."""
    return sandbox_hibernate_if_idle(sandbox_id=sandbox_id, lease=lease)


@shared_task(name="sandboxes.pool_refill")
def pool_refill() -> int:
    return sandbox_pool_refill()


@shared_task(name="sandboxes.destroy")
def destroy(sandbox_id: str) -> bool:
    return sandbox_destroy(sandbox_id=sandbox_id)


@shared_task(name="sandboxes.create_for_pool")
def create_for_pool() -> str:
    """One more ready sandbox in the warm pool (the sandbox manager's POST); its id."""
    return str(sandbox_create().pk)
