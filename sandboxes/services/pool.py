"""The warm pool: sandboxes started ahead with no session, claimed by an acquire, refilled."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from anker_project.redis_client import get_redis

from ..backends import get_backend
from ..models import Sandbox, SandboxStatus
from .lifecycle import SandboxUnavailableError, _alive, lease_end, sandbox_create, sandbox_mark_failed

logger = logging.getLogger(__name__)

POOL_CANDIDATES = 5
POOL_REFILL_LOCK = "sandboxes:pool-refill"
POOL_REFILL_QUEUED = "sandboxes:pool-refill-queued"
POOL_REFILL_DEBOUNCE_SECONDS = 5


def _schedule_pool_refill() -> None:
    """Ask for a refill after a claim: one message per POOL_REFILL_DEBOUNCE_SECONDS at most (a
    Redis SET NX is cheaper than a Celery publish, and a burst of claims needs one refill; beat
    refills every 30 s anyway)."""
    if settings.SANDBOX_POOL_SIZE > 0:
        from ..tasks import pool_refill

        def send() -> None:
            if get_redis().set(POOL_REFILL_QUEUED, b"1", nx=True, ex=POOL_REFILL_DEBOUNCE_SECONDS):
                pool_refill.delay()

        transaction.on_commit(send)


def _claim_from_pool(*, session_id: str, backend_name: str) -> Sandbox | None:
    """Atomically give one ready pool sandbox to the session (CAS on session IS NULL AND ready)."""
    candidates = list(
        Sandbox.objects.filter(status=SandboxStatus.READY, session__isnull=True, backend=backend_name)
        .order_by("created_at")
        .values_list("pk", flat=True)[:POOL_CANDIDATES]
    )
    for pk in candidates:
        now = timezone.now()
        with transaction.atomic():
            claimed = Sandbox.objects.filter(pk=pk, status=SandboxStatus.READY, session__isnull=True).update(
                status=SandboxStatus.IN_USE, session_id=session_id, claimed_at=now, lease_expires_at=lease_end()
            )
        if not claimed:
            continue  # another session took it first
        sandbox = Sandbox.objects.get(pk=pk)
        if _alive(sandbox):
            return sandbox
        sandbox_mark_failed(sandbox_id=str(pk), error="its instance had stopped while in the pool")
    return None


def sandbox_pool_refill() -> int:
    """Start sandboxes until SANDBOX_POOL_SIZE are ready (or starting) for the pool.

    One refill at a time (a Redis lock), so two beats never overshoot. Returns how many started.
    """
    lock = get_redis().lock(POOL_REFILL_LOCK, timeout=settings.SANDBOX_START_TIMEOUT_SECONDS * 4 + 60)
    if not lock.acquire(blocking=False):
        return 0
    started = 0
    try:
        backend = get_backend()
        unclaimed = Sandbox.objects.filter(session__isnull=True, backend=backend.name)
        missing = (
            settings.SANDBOX_POOL_SIZE
            - unclaimed.filter(status__in=(SandboxStatus.READY, SandboxStatus.PROVISIONING)).count()
        )
        for _ in range(max(0, missing)):
            try:
                sandbox_create(backend=backend)
            except SandboxUnavailableError:
                break  # logged; the next beat tries again
            started += 1
    finally:
        try:
            lock.release()
        except Exception:
            logger.debug("pool refill lock already expired")
    return started
