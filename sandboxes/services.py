"""Sandbox lifecycle: create, acquire (lease), touch, release, destroy, reap, refill the pool.

Every state change is a compare-and-set on `status`. No transaction or row lock is held
across a backend call (starting a container takes seconds): the row is written before
and after, and a row's state decides who owns the instance.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from anker_project.errors import ApplicationError
from anker_project.redis_client import get_redis

from .backends import (
    InstanceState,
    SandboxBackend,
    SandboxEndpoint,
    SandboxShape,
    SandboxStartError,
    get_backend,
    shape_of,
)
from .handles import Leased, SandboxHandle
from .models import LIVE_STATUSES, PASSING_STATUSES, Sandbox, SandboxStatus
from .selectors import sandbox_tool_api

logger = logging.getLogger(__name__)

ACQUIRE_ATTEMPTS = 5
POOL_CANDIDATES = 5
PROVISION_POLL_SECONDS = 0.2
PROVISION_GRACE = timedelta(seconds=30)  # past the start timeout: a starter still at it is dead
STALE_STOPPING = timedelta(minutes=5)
POOL_REFILL_LOCK = "sandboxes:pool-refill"
POOL_REFILL_QUEUED = "sandboxes:pool-refill-queued"
POOL_REFILL_DEBOUNCE_SECONDS = 5


class SandboxUnavailableError(ApplicationError):
    """No sandbox could be had; the message is shown to the user."""

    status = 503


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


def _lease_end() -> datetime:
    return timezone.now() + timedelta(minutes=settings.SANDBOX_TTL_MINUTES)


def _endpoint_fields(endpoint: SandboxEndpoint) -> dict[str, str]:
    return {
        "tool_api_url": endpoint.tool_api_url,
        "tool_api_socket": endpoint.tool_api_socket or "",
        "token": endpoint.token,
        "cdp_url": endpoint.cdp_url or "",
        "vnc_ws_url": endpoint.vnc_ws_url or "",
        "home": endpoint.home,
        "services": ",".join(endpoint.services),
    }


def _alive(sandbox: Sandbox) -> bool:
    return _state(sandbox) is InstanceState.RUNNING


def _state(sandbox: Sandbox) -> InstanceState | None:
    """The instance's state; None when the engine does not answer (it cannot vouch for it)."""
    try:
        return get_backend(sandbox.backend).status(str(sandbox.id))
    except Exception:
        logger.warning("could not check sandbox %s", sandbox.id, exc_info=True)
        return None


def _schedule_pool_refill() -> None:
    """Ask for a refill after a claim: one message per POOL_REFILL_DEBOUNCE_SECONDS at most (a
    Redis SET NX is cheaper than a Celery publish, and a burst of claims needs one refill; beat
    refills every 30 s anyway)."""
    if settings.SANDBOX_POOL_SIZE > 0:
        from .tasks import pool_refill

        def send() -> None:
            if get_redis().set(POOL_REFILL_QUEUED, b"1", nx=True, ex=POOL_REFILL_DEBOUNCE_SECONDS):
                pool_refill.delay()

        transaction.on_commit(send)


def _prepare(backend: SandboxBackend, *, session_id: str | None) -> None:
    """What a backend does once before its first sandbox (the Docker backend builds a missing
    image, a long wait the session is told about), before any sandbox row exists."""
    prepare = getattr(backend, "prepare", None)
    if prepare is None:
        return

    def notify(note: str) -> None:
        if session_id is not None:
            from sessions.events import StatusEvent
            from sessions.publisher import event_publish

            event_publish(session_id, StatusEvent(status="running", note=note))

    try:
        prepare(notify=notify)
    except SandboxStartError as exc:
        logger.warning("sandbox backend %s is not ready: %s", backend.name, exc)
        raise SandboxUnavailableError(f"Could not start a sandbox: {exc}") from exc


def sandbox_create(*, session_id: str | None = None, backend: SandboxBackend | None = None) -> Sandbox:
    """Start a sandbox: for the session (leased to it) or, without one, for the warm pool.

    Raises SandboxUnavailableError when the backend cannot start it, and IntegrityError
    when the session already holds a live sandbox.
    """
    backend = backend or get_backend()
    _prepare(backend, session_id=session_id)
    with transaction.atomic():
        sandbox = Sandbox.objects.create(
            backend=backend.name,
            session_id=session_id,
            status=SandboxStatus.PROVISIONING,
            isolation=backend.isolation(),
        )
    try:
        endpoint = backend.create(str(sandbox.id))
    except (SandboxStartError, OSError) as exc:
        Sandbox.objects.filter(pk=sandbox.pk, status=SandboxStatus.PROVISIONING).update(
            status=SandboxStatus.FAILED, error=str(exc)[:2000], stopped_at=timezone.now()
        )
        logger.warning("sandbox %s did not start: %s", sandbox.id, exc)
        raise SandboxUnavailableError(f"Could not start a sandbox: {exc}") from exc
    now = timezone.now()
    fields = _endpoint_fields(endpoint)
    if session_id is not None:
        target = {"status": SandboxStatus.IN_USE, "claimed_at": now, "lease_expires_at": _lease_end()}
    else:
        target = {"status": SandboxStatus.READY}
    if not Sandbox.objects.filter(pk=sandbox.pk, status=SandboxStatus.PROVISIONING).update(
        ready_at=now, **fields, **target
    ):
        # Destroyed while it started (its session was deleted, an admin destroyed it).
        backend.destroy(str(sandbox.id))
        raise SandboxUnavailableError("The sandbox was stopped while it started")
    sandbox.refresh_from_db()
    logger.info("sandbox %s ready (%s)", sandbox.id, backend.name)
    return sandbox


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
                status=SandboxStatus.IN_USE, session_id=session_id, claimed_at=now, lease_expires_at=_lease_end()
            )
        if not claimed:
            continue  # another session took it first
        sandbox = Sandbox.objects.get(pk=pk)
        if _alive(sandbox):
            return sandbox
        sandbox_mark_failed(sandbox_id=str(pk), error="its instance had stopped while in the pool")
    return None


def sandbox_acquire(*, session_id: str) -> SandboxHandle:
    """The session's sandbox: its live one (lease renewed; woken if it hibernates); else one
    from the warm pool; else a new one. A leased sandbox whose instance died (or would not
    wake) is marked failed and replaced, and the handle says `replaced=True`.
    """
    from .hibernation import sandbox_wake

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
                Sandbox.objects.filter(pk=current.pk, status=SandboxStatus.IN_USE).update(lease_expires_at=_lease_end())
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
    from .hibernation import passage_timeout, sandbox_recover

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
    Sandbox.objects.filter(session_id=session_id, status=SandboxStatus.IN_USE).update(lease_expires_at=_lease_end())


def sandbox_extend_lease(*, sandbox_id: str, minutes: int) -> bool:
    return bool(
        Sandbox.objects.filter(pk=sandbox_id, status__in=(SandboxStatus.IN_USE, SandboxStatus.HIBERNATED)).update(
            lease_expires_at=timezone.now() + timedelta(minutes=minutes)
        )
    )


def sandbox_release_for_session(*, session_id: str) -> None:
    """Destroy the session's sandbox (the session is being deleted)."""
    for pk in Sandbox.objects.filter(session_id=session_id, status__in=LIVE_STATUSES).values_list("pk", flat=True):
        sandbox_destroy(sandbox_id=str(pk))


def _stop_instance(sandbox: Sandbox) -> bool:
    """Destroy the instance of a sandbox this caller moved to `stopping`."""
    try:
        get_backend(sandbox.backend).destroy(str(sandbox.pk))
    except Exception as exc:
        logger.exception("could not destroy sandbox %s", sandbox.pk)
        Sandbox.objects.filter(pk=sandbox.pk, status=SandboxStatus.STOPPING).update(
            status=SandboxStatus.FAILED, error=f"destroy failed: {exc}"[:2000]
        )
        return False
    Sandbox.objects.filter(pk=sandbox.pk, status=SandboxStatus.STOPPING).update(
        status=SandboxStatus.STOPPED, stopped_at=timezone.now(), token=""
    )
    return True


def sandbox_destroy(*, sandbox_id: str) -> bool:
    """Stop and remove a live sandbox. False when it was not live (already gone or going)."""
    if not Sandbox.objects.filter(pk=sandbox_id, status__in=LIVE_STATUSES).update(status=SandboxStatus.STOPPING):
        return False
    return _stop_instance(Sandbox.objects.get(pk=sandbox_id))


def sandbox_mark_failed(*, sandbox_id: str, error: str) -> bool:
    """A live sandbox whose instance died: mark it failed and remove what is left of it."""
    if not Sandbox.objects.filter(pk=sandbox_id, status__in=LIVE_STATUSES).update(
        status=SandboxStatus.FAILED, error=error, stopped_at=timezone.now(), token=""
    ):
        return False
    sandbox = Sandbox.objects.get(pk=sandbox_id)
    logger.warning("sandbox %s failed: %s", sandbox_id, error)
    try:
        get_backend(sandbox.backend).destroy(sandbox_id)
    except Exception:
        logger.warning("could not remove the remains of sandbox %s", sandbox_id, exc_info=True)
    return True


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
    from .hibernation import sandboxes_recover_passages

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
