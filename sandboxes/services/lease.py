"""The lease: a session acquires its sandbox (its own, woken if it hibernates; else one from the
pool; else a new one), turns touch it, an unused one is given back."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection
from django.utils import timezone

from ..backends import SandboxShape, get_backend, shape_of
from ..handles import Leased, SandboxHandle
from ..models import LIVE_STATUSES, PASSING_STATUSES, Sandbox, SandboxStatus
from ..selectors import sandbox_tool_api
from .lifecycle import SandboxUnavailableError, _alive, lease_end, sandbox_create, sandbox_destroy, sandbox_mark_failed
from .pool import _claim_from_pool, _schedule_pool_refill

ACQUIRE_ATTEMPTS = 5
PROVISION_POLL_SECONDS = 0.2
PROVISION_GRACE = timedelta(seconds=30)  # past the start timeout: a starter still at it is dead


def _leased(sandbox: Sandbox, *, replaced: bool, origin: str = "kept") -> SandboxHandle:
    return SandboxHandle.ready(
        Leased(
            sandbox_id=str(sandbox.id),
            tool_api=sandbox_tool_api(sandbox),
            cdp_url=sandbox.cdp_url or None,
            shape=_shape(sandbox),
            replaced=replaced,
            origin=origin,
        )
    )


def _shape(sandbox: Sandbox) -> SandboxShape:
    return shape_of(home=sandbox.home, cdp_url=sandbox.cdp_url, services=sandbox.services.split(","))


def sandbox_acquire(*, session_id: str) -> SandboxHandle:
    """The session's sandbox: its live one (lease renewed; woken if it hibernates); else one
    from the warm pool; else a new one. A leased sandbox whose instance died (or would not
    wake) is marked failed and replaced, and the handle says `replaced=True`.
    """
    from ..hibernation import sandbox_wake

    backend = get_backend()
    replaced = False
    for _attempt in range(ACQUIRE_ATTEMPTS):
        current = Sandbox.objects.filter(session_id=session_id, status__in=LIVE_STATUSES).first()
        if current is not None and current.status == SandboxStatus.PROVISIONING:
            _wait_while_provisioning(current)
            continue
        if current is not None and current.status in PASSING_STATUSES:
            _wait_while_passing(str(current.pk))
            continue
        if current is not None and current.status == SandboxStatus.HIBERNATED:
            woken = sandbox_wake(sandbox_id=str(current.pk))
            if woken is not None:
                return _leased(woken, replaced=replaced)
            replaced = replaced or Sandbox.objects.filter(pk=current.pk, status=SandboxStatus.FAILED).exists()
            continue
        if current is not None:
            if _alive(current):
                Sandbox.objects.filter(pk=current.pk, status=SandboxStatus.IN_USE).update(lease_expires_at=lease_end())
                return _leased(current, replaced=replaced)
            sandbox_mark_failed(sandbox_id=str(current.pk), error="its instance stopped while leased")
            replaced = True
        try:
            sandbox = _claim_from_pool(session_id=session_id, backend_name=backend.name)
            if sandbox is not None:
                _schedule_pool_refill()
                return _leased(sandbox, replaced=replaced, origin="pool")
            sandbox = sandbox_create(session_id=session_id, backend=backend)
            return _leased(sandbox, replaced=replaced, origin="new")
        except IntegrityError:
            continue  # a concurrent acquire gave the session a sandbox: use that one
    raise SandboxUnavailableError("Could not get a sandbox for this session; try again")


def _wait_while_provisioning(sandbox: Sandbox) -> None:
    """Wait for a sandbox someone else is starting. Its starter gives up after
    SANDBOX_START_TIMEOUT_SECONDS; one still starting PROVISION_GRACE later lost its starter (a
    worker killed mid-start, whose turn is now resumed here): it is marked failed and its
    instance removed, and the caller starts another instead of failing the turn."""
    deadline = sandbox.created_at + timedelta(seconds=settings.SANDBOX_START_TIMEOUT_SECONDS) + PROVISION_GRACE
    while timezone.now() < deadline:
        if not Sandbox.objects.filter(pk=sandbox.pk, status=SandboxStatus.PROVISIONING).exists():
            return
        time.sleep(PROVISION_POLL_SECONDS)
    sandbox_mark_failed(sandbox_id=str(sandbox.pk), error="it never finished starting: its starter stopped")


def sandbox_acquire_start(*, session_id: str) -> SandboxHandle:
    """`sandbox_acquire` on a thread of its own, so the sandbox starts while the model plans.

    The handle knows the sandbox's shape at once (from the session's sandbox, the pool, or
    what the backend would create); when that cannot be known it acquires before returning.
    """
    shape = _expected_shape(session_id=session_id)
    if shape is None:
        return sandbox_acquire(session_id=session_id)
    future: Future[Leased] = Future()

    def acquire() -> None:
        try:
            future.set_result(sandbox_acquire(session_id=session_id).result())
        except BaseException as exc:
            future.set_exception(exc)
        finally:
            connection.close()  # this thread's own connection

    threading.Thread(target=acquire, name=f"sandbox-acquire-{session_id[:8]}", daemon=True).start()
    return SandboxHandle(future, shape=shape)


def _expected_shape(*, session_id: str) -> SandboxShape | None:
    """What the session's sandbox will look like: its own (if it has one), a pool sandbox's, or
    what the backend creates now."""
    backend = get_backend()
    known = (
        Sandbox.objects.filter(session_id=session_id, status__in=LIVE_STATUSES).exclude(home="").first()
        or Sandbox.objects.filter(status=SandboxStatus.READY, session__isnull=True, backend=backend.name)
        .order_by("created_at")
        .first()
    )
    return _shape(known) if known is not None else backend.shape()


def sandbox_give_back(leased: Leased) -> None:
    """A turn ended without using the sandbox its acquire provisioned: a pool sandbox goes back
    to the pool untouched, a new one is destroyed. Nothing of the session's was in either."""
    if leased.origin == "pool" and Sandbox.objects.filter(pk=leased.sandbox_id, status=SandboxStatus.IN_USE).update(
        status=SandboxStatus.READY, session=None, claimed_at=None, lease_expires_at=None
    ):
        return
    if leased.origin in ("pool", "new"):
        sandbox_destroy(sandbox_id=leased.sandbox_id)


def _wait_while_passing(sandbox_id: str) -> None:
    """Wait while another caller wakes or hibernates the sandbox. One whose passage outlived its
    timeout lost its worker (killed mid-wake, a turn now resumed here): it is recovered
    (hibernated again, workspace kept) and the caller's next look wakes it."""
    from ..hibernation import passage_timeout, sandbox_recover

    deadline = time.monotonic() + settings.SANDBOX_START_TIMEOUT_SECONDS + 5
    while time.monotonic() < deadline:
        passing = Sandbox.objects.filter(pk=sandbox_id, status__in=PASSING_STATUSES).values_list("updated_at").first()
        if passing is None:
            return
        if passing[0] < timezone.now() - passage_timeout():
            sandbox_recover(sandbox_id=sandbox_id)
            return
        time.sleep(PROVISION_POLL_SECONDS)


def sandbox_touch(*, session_id: str) -> None:
    """Renew the session's lease (turn heartbeats: model time counts as activity)."""
    Sandbox.objects.filter(session_id=session_id, status=SandboxStatus.IN_USE).update(lease_expires_at=lease_end())


def sandbox_extend_lease(*, sandbox_id: str, minutes: int) -> bool:
    return bool(
        Sandbox.objects.filter(pk=sandbox_id, status__in=(SandboxStatus.IN_USE, SandboxStatus.HIBERNATED)).update(
            lease_expires_at=timezone.now() + timedelta(minutes=minutes)
        )
    )
