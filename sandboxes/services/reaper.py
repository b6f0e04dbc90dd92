"""The reaper: expired leases, vanished instances, starts that never finished, passages that lost
their worker, and instances of ours the database does not hold live."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from ..backends import InstanceState, get_backend
from ..models import LIVE_STATUSES, Sandbox, SandboxStatus
from .lifecycle import _alive, _state, _stop_instance, sandbox_mark_failed

logger = logging.getLogger(__name__)

STALE_STOPPING = timedelta(minutes=5)


def sandboxes_reap() -> dict[str, int]:
    """Destroy expired leases, fail sandboxes whose instance vanished or never started, recover
    those stuck waking or hibernating, and remove every instance of ours (our prefix / directory)
    the DB does not hold live."""
    counts = {"expired": 0, "vanished": 0, "stale": 0, "recovered": 0, "orphans": 0}
    now = timezone.now()
    leased = (SandboxStatus.IN_USE, SandboxStatus.HIBERNATED)  # a hibernated workspace is kept as long as a lease
    for sandbox in Sandbox.objects.filter(status__in=leased, lease_expires_at__lt=now):
        # The lease is part of the CAS: a touch that lands first keeps the sandbox.
        if Sandbox.objects.filter(pk=sandbox.pk, status=sandbox.status, lease_expires_at__lt=now).update(
            status=SandboxStatus.STOPPING
        ):
            counts["expired"] += _stop_instance(sandbox)
    for sandbox in Sandbox.objects.filter(status__in=(SandboxStatus.READY, SandboxStatus.IN_USE)):
        if not _alive(sandbox):
            counts["vanished"] += sandbox_mark_failed(sandbox_id=str(sandbox.pk), error="its instance vanished")
    for sandbox in Sandbox.objects.filter(status=SandboxStatus.HIBERNATED):
        if _state(sandbox) is InstanceState.MISSING:
            counts["vanished"] += sandbox_mark_failed(sandbox_id=str(sandbox.pk), error="its workspace vanished")
    stale_before = now - timedelta(seconds=settings.SANDBOX_START_TIMEOUT_SECONDS + 60)
    for sandbox in Sandbox.objects.filter(status=SandboxStatus.PROVISIONING, created_at__lt=stale_before):
        counts["stale"] += sandbox_mark_failed(sandbox_id=str(sandbox.pk), error="it never finished starting")
    # Hibernating and waking stamp updated_at: one stuck past its timeout lost its worker; it is
    # hibernated again, workspace kept.
    from ..hibernation import sandboxes_recover_passages

    counts["recovered"] = sandboxes_recover_passages()
    Sandbox.objects.filter(status=SandboxStatus.STOPPING, updated_at__lt=now - STALE_STOPPING).update(
        status=SandboxStatus.STOPPED, stopped_at=now
    )  # their instances, if any, are orphans removed below
    backend = get_backend()
    instances = backend.list()
    known = {
        str(pk)
        for pk in Sandbox.objects.filter(pk__in=instances, status__in=LIVE_STATUSES).values_list("pk", flat=True)
    }
    for sandbox_id in instances:
        if sandbox_id not in known:
            logger.warning("removing orphan sandbox instance %s (%s)", sandbox_id, backend.name)
            backend.destroy(sandbox_id)
            counts["orphans"] += 1
    return counts
