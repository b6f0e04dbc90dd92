"""Hibernation: an idle leased sandbox has its processes stopped and its workspace kept; the
next turn of its session (or the live view, or a file view) wakes it.

Idle is read off the lease: every touch renews it to now + SANDBOX_TTL_MINUTES, so a lease
that ends before now + TTL - SANDBOX_IDLE_STOP_MINUTES was last touched longer ago than that.
A running turn touches it with every heartbeat, so only sandboxes whose turns have ended are
stopped. When a session stops using its sandbox (a turn ends, the live view closes, a file
view woke it) `sandbox_mark_idle` arms a timer for that sandbox at its idle deadline, carrying
the lease it set: the timer hibernates it only if nothing touched it since (the lease is part
of the compare-and-set). Beat's `sandboxes.hibernate_idle` is a slow safety net for a timer
that was lost (a broker restart, a worker killed before it armed one).

Every step is a compare-and-set on `status`: `in_use` -> `hibernating` -> `hibernated` ->
`waking` -> `in_use`. An acquire that finds it `hibernating` or `waking` waits for it to
settle. One stuck in passage (its worker was killed mid-stop or mid-wake: `updated_at` older
than PASSAGE_TIMEOUT) is recovered, workspace and all: its processes are stopped (whatever the
dead worker had started) and it is `hibernated` again, so the next acquire wakes it. The reaper
still destroys a hibernated sandbox whose lease has ended, workspace and all.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .backends import SandboxStartError, get_backend
from .models import LIVE_STATUSES, Sandbox, SandboxStatus
from .services.lifecycle import endpoint_fields, lease_end, sandbox_mark_failed

logger = logging.getLogger(__name__)

SWEEP_BATCH = 50
# A Redis broker hands a countdown task out again after its visibility timeout (an hour by
# default): an idle timer further off than this is not armed, the safety-net sweep does it.
TIMER_MAX_SECONDS = 1800.0


def passage_timeout() -> timedelta:
    """How long a wake or a stop may take before its worker is presumed dead: a wake waits at
    most SANDBOX_START_TIMEOUT_SECONDS for the tool API, a stop a few seconds."""
    return timedelta(seconds=settings.SANDBOX_START_TIMEOUT_SECONDS + 30)


def sandbox_mark_idle(*, session_id: str) -> bool:
    """The session stopped using its sandbox for now (its turn ended, its live view closed, a
    file view woke it): the lease runs from now, and a timer hibernates the sandbox at its idle
    deadline unless something touches it before. False when the session has no sandbox in use."""
    pk = Sandbox.objects.filter(session_id=session_id, status=SandboxStatus.IN_USE).values_list("pk", flat=True).first()
    if pk is None:
        return False
    lease = lease_end()
    if not Sandbox.objects.filter(pk=pk, status=SandboxStatus.IN_USE).update(lease_expires_at=lease):
        return False
    _arm_idle_timer(sandbox_id=str(pk), lease=lease)
    return True


def _arm_idle_timer(*, sandbox_id: str, lease: datetime) -> bool:
    delay = settings.SANDBOX_IDLE_STOP_MINUTES * 60
    if delay <= 0 or delay > TIMER_MAX_SECONDS:
        return False
    from .tasks import hibernate_if_idle

    kwargs = {"sandbox_id": sandbox_id, "lease": lease.isoformat()}
    transaction.on_commit(lambda: hibernate_if_idle.apply_async(kwargs=kwargs, countdown=delay))
    return True


def sandbox_hibernate_if_idle(*, sandbox_id: str, lease: str) -> bool:
    """The idle timer: hibernate the sandbox if its lease is still the one `sandbox_mark_idle`
    set (nothing touched it since; a touch moves the lease later). False otherwise: whoever
    touched it arms the next timer when they are done with it."""
    return sandbox_hibernate(sandbox_id=sandbox_id, idle_before=datetime.fromisoformat(lease))


def sandboxes_hibernate_idle() -> int:
    """The safety net: hibernate every leased sandbox idle for SANDBOX_IDLE_STOP_MINUTES (0
    disables) and recover those stuck in passage; how many were hibernated."""
    sandboxes_recover_passages()
    minutes = settings.SANDBOX_IDLE_STOP_MINUTES
    if minutes <= 0:
        return 0
    idle_before = timezone.now() + timedelta(minutes=settings.SANDBOX_TTL_MINUTES - minutes)
    idle = Sandbox.objects.filter(status=SandboxStatus.IN_USE, lease_expires_at__lte=idle_before)
    return sum(
        sandbox_hibernate(sandbox_id=str(pk), idle_before=idle_before)
        for pk in idle.order_by("lease_expires_at").values_list("pk", flat=True)[:SWEEP_BATCH]
    )


def sandbox_hibernate(*, sandbox_id: str, idle_before: datetime | None = None) -> bool:
    """Stop a leased sandbox's processes, keep its workspace. False when it was not in use (or,
    with `idle_before`, was touched since: the lease is part of the CAS)."""
    leased = Sandbox.objects.filter(pk=sandbox_id, status=SandboxStatus.IN_USE)
    if idle_before is not None:
        leased = leased.filter(lease_expires_at__lte=idle_before)
    if not leased.update(status=SandboxStatus.HIBERNATING, updated_at=timezone.now()):
        return False
    if not _stop(sandbox_id):
        return False
    logger.info("sandbox %s hibernates (idle %s min)", sandbox_id, settings.SANDBOX_IDLE_STOP_MINUTES)
    return True


def _stop(sandbox_id: str) -> bool:
    """Stop the processes of a sandbox this caller moved to `hibernating`, then mark it hibernated."""
    backend = Sandbox.objects.values_list("backend", flat=True).get(pk=sandbox_id)
    try:
        get_backend(backend).stop(sandbox_id)
    except Exception as exc:
        logger.exception("could not hibernate sandbox %s", sandbox_id)
        sandbox_mark_failed(sandbox_id=sandbox_id, error=f"it could not hibernate: {exc}"[:2000])
        return False
    return bool(
        Sandbox.objects.filter(pk=sandbox_id, status=SandboxStatus.HIBERNATING).update(
            status=SandboxStatus.HIBERNATED, updated_at=timezone.now()
        )
    )


def sandbox_wake(*, sandbox_id: str) -> Sandbox | None:
    """Start a hibernated sandbox's processes again over its workspace; the sandbox, leased
    anew. None when someone else is waking it (wait and look again) or it would not wake (it is
    then marked failed and removed: the session gets a new one)."""
    if not Sandbox.objects.filter(pk=sandbox_id, status=SandboxStatus.HIBERNATED).update(
        status=SandboxStatus.WAKING, updated_at=timezone.now()
    ):
        return None
    backend = get_backend(Sandbox.objects.values_list("backend", flat=True).get(pk=sandbox_id))
    try:
        endpoint = backend.start(sandbox_id)
    except (SandboxStartError, OSError) as exc:
        sandbox_mark_failed(sandbox_id=sandbox_id, error=f"it did not wake: {exc}"[:2000])
        return None
    woken = {"lease_expires_at": lease_end(), "updated_at": timezone.now(), **endpoint_fields(endpoint)}
    if not Sandbox.objects.filter(pk=sandbox_id, status=SandboxStatus.WAKING).update(
        status=SandboxStatus.IN_USE, **woken
    ):
        # Destroyed while it woke (session deleted, staff): remove what this wake started. Still
        # live means this wake was presumed dead and recovered: the recovery stops the instance.
        if not Sandbox.objects.filter(pk=sandbox_id, status__in=LIVE_STATUSES).exists():
            backend.destroy(sandbox_id)
        return None
    logger.info("sandbox %s woke", sandbox_id)
    return Sandbox.objects.get(pk=sandbox_id)


def sandbox_recover(*, sandbox_id: str) -> bool:
    """A sandbox stuck `hibernating` or `waking` for longer than PASSAGE_TIMEOUT lost its worker
    mid-passage: stop whatever it had started and mark it hibernated (workspace kept), so the
    next acquire wakes it. The stale `updated_at` is part of the CAS: one caller recovers it,
    and a passage still under way is left alone. False when there was nothing to recover."""
    stale_before = timezone.now() - passage_timeout()
    stuck = Sandbox.objects.filter(
        pk=sandbox_id, status__in=(SandboxStatus.HIBERNATING, SandboxStatus.WAKING), updated_at__lt=stale_before
    ).first()
    if stuck is None:
        return False
    if not Sandbox.objects.filter(pk=sandbox_id, status=stuck.status, updated_at=stuck.updated_at).update(
        status=SandboxStatus.HIBERNATING, updated_at=timezone.now()
    ):
        return False  # another caller recovered it, or the passage finished meanwhile
    logger.warning("sandbox %s was stuck %s (its worker died): stopping it again", sandbox_id, stuck.status)
    return _stop(sandbox_id)


def sandboxes_recover_passages() -> int:
    """Recover every sandbox stuck in passage (see `sandbox_recover`); how many."""
    stale_before = timezone.now() - passage_timeout()
    stuck = Sandbox.objects.filter(
        status__in=(SandboxStatus.HIBERNATING, SandboxStatus.WAKING), updated_at__lt=stale_before
    ).values_list("pk", flat=True)
    return sum(sandbox_recover(sandbox_id=str(pk)) for pk in stuck[:SWEEP_BATCH])


def sandbox_awake_for_session(*, session_id: str) -> Sandbox | None:
    """The session's leased sandbox, woken first if it hibernates (a file view, the live view).
    It is idle again from then on: its idle timer is armed (an open live view keeps it awake)."""
    from .services.lease import sandbox_acquire

    current = Sandbox.objects.filter(
        session_id=session_id,
        status__in=(SandboxStatus.IN_USE, SandboxStatus.HIBERNATED, SandboxStatus.HIBERNATING, SandboxStatus.WAKING),
    ).first()
    if current is None:
        return None
    if current.status != SandboxStatus.IN_USE:
        sandbox_acquire(session_id=session_id)  # waits for a passage, wakes, or replaces
        sandbox_mark_idle(session_id=session_id)
    return Sandbox.objects.filter(session_id=session_id, status=SandboxStatus.IN_USE).first()
