"""A sandbox's life: create (lease it to a session, or ready it for the pool), destroy, mark
failed, and the row fields every start or wake writes (`endpoint_fields`, `lease_end`).

Every state change is a compare-and-set on `status`. No transaction or row lock is held
across a backend call (starting a container takes seconds): the row is written before
and after, and a row's state decides who owns the instance.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from anker_project.errors import ApplicationError

from ..backends import (
    InstanceState,
    SandboxBackend,
    SandboxEndpoint,
    SandboxStartError,
    get_backend,
)
from ..models import LIVE_STATUSES, Sandbox, SandboxStatus

logger = logging.getLogger(__name__)


class SandboxUnavailableError(ApplicationError):
    """No sandbox could be had; the message is shown to the user."""

    status = 503


def lease_end() -> datetime:
    return timezone.now() + timedelta(minutes=settings.SANDBOX_TTL_MINUTES)


def endpoint_fields(endpoint: SandboxEndpoint) -> dict[str, str]:
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
    fields = endpoint_fields(endpoint)
    if session_id is not None:
        target = {"status": SandboxStatus.IN_USE, "claimed_at": now, "lease_expires_at": lease_end()}
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
