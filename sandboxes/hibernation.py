"""Hibernation: an idle leased sandbox has its processes stopped and its workspace kept; the
next turn of its session (or the live view, or a file view) wakes it.

Idle is read off the lease: every touch renews it to now + SANDBOX_TTL_MINUTES, so a lease
that ends before now + TTL - SANDBOX_IDLE_STOP_MINUTES was last touched longer ago than that.
A running turn touches it with every heartbeat, so only sandboxes whose turns have ended are
stopped. Every step is a compare-and-set on `status`: `in_use` -> `hibernating` -> `hibernated`
-> `waking` -> `in_use`. An acquire that finds it `hibernating` or `waking` waits for it to
settle; the reaper fails one stuck in passage (its worker died) and still destroys a hibernated
sandbox whose lease has ended, workspace and all.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .backends import SandboxStartError, get_backend
from .models import Sandbox, SandboxStatus
from .services import _endpoint_fields, _lease_end, sandbox_mark_failed

logger = logging.getLogger(__name__)

SWEEP_BATCH = 50


def sandboxes_hibernate_idle() -> int:
    """Hibernate every leased sandbox idle for SANDBOX_IDLE_STOP_MINUTES (0 disables); how many."""
    minutes = settings.SANDBOX_IDLE_STOP_MINUTES
    if minutes <= 0:
        return 0
    idle_before = timezone.now() + timedelta(minutes=settings.SANDBOX_TTL_MINUTES - minutes)
    idle = Sandbox.objects.filter(status=SandboxStatus.IN_USE, lease_expires_at__lte=idle_before)
    return sum(
        sandbox_hibernate(sandbox_id=str(pk), idle_before=idle_before)
        for pk in idle.order_by("lease_expires_at").values_list("pk", flat=True)[:SWEEP_BATCH]
    )


def sandbox_hibernate(*, sandbox_id: str, idle_before: object = None) -> bool:
    """Stop a leased sandbox's processes, keep its workspace. False when it was not in use (or,
    with `idle_before`, was touched since: the lease is part of the CAS)."""
    leased = Sandbox.objects.filter(pk=sandbox_id, status=SandboxStatus.IN_USE)
    if idle_before is not None:
        leased = leased.filter(lease_expires_at__lte=idle_before)
    if not leased.update(status=SandboxStatus.HIBERNATING, updated_at=timezone.now()):
        return False
    backend = Sandbox.objects.values_list("backend", flat=True).get(pk=sandbox_id)
    try:
        get_backend(backend).stop(sandbox_id)
    except Exception as exc:
        logger.exception("could not hibernate sandbox %s", sandbox_id)
        sandbox_mark_failed(sandbox_id=sandbox_id, error=f"it could not hibernate: {exc}"[:2000])
        return False
    Sandbox.objects.filter(pk=sandbox_id, status=SandboxStatus.HIBERNATING).update(
        status=SandboxStatus.HIBERNATED, updated_at=timezone.now()
    )
    logger.info("sandbox %s hibernates (idle %s min)", sandbox_id, settings.SANDBOX_IDLE_STOP_MINUTES)
    return True


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
    woken = {"lease_expires_at": _lease_end(), "updated_at": timezone.now(), **_endpoint_fields(endpoint)}
    if not Sandbox.objects.filter(pk=sandbox_id, status=SandboxStatus.WAKING).update(
        status=SandboxStatus.IN_USE, **woken
    ):
        backend.destroy(sandbox_id)  # destroyed while it woke (session deleted, staff)
        return None
    logger.info("sandbox %s woke", sandbox_id)
    return Sandbox.objects.get(pk=sandbox_id)


def sandbox_awake_for_session(*, session_id: str) -> Sandbox | None:
    """The session's leased sandbox, woken first if it hibernates (a file view, the live view)."""
    from .services import sandbox_acquire

    current = Sandbox.objects.filter(
        session_id=session_id,
        status__in=(SandboxStatus.IN_USE, SandboxStatus.HIBERNATED, SandboxStatus.HIBERNATING, SandboxStatus.WAKING),
    ).first()
    if current is None:
        return None
    if current.status != SandboxStatus.IN_USE:
        sandbox_acquire(session_id=session_id)  # waits for a passage, wakes, or replaces
    return Sandbox.objects.filter(session_id=session_id, status=SandboxStatus.IN_USE).first()
