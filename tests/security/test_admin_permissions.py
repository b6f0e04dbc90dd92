"""Staff may do in the admin only what their Django permissions say: viewing a list is not
permission to run its actions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from agents.control import turn_stop_reason
from agents.models import Turn
from agents.services import chat_send
from anker_project.redis_client import get_redis
from sandboxes.models import Sandbox, SandboxStatus
from sessions.services import session_create
from tests.conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def staff_with(*codenames: str) -> Client:
    user = make_user("clerk", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def offered_actions(client: Client, url: str) -> set[str]:
    response = client.get(url)
    assert response.status_code == 200
    return {
        name
        for name in ("destroy_sandboxes", "extend_lease", "refill_pool", "stop_sessions", "delete_selected")
        if f'value="{name}"' in response.content.decode()
    }


@pytest.fixture
def leased(alice: Any) -> Sandbox:
    session = session_create(owner_id=alice.pk, mode="agent")
    return Sandbox.objects.create(
        backend="docker",
        status=SandboxStatus.IN_USE,
        session=session,
        lease_expires_at=timezone.now() + timedelta(minutes=5),
    )


def test_view_only_staff_cannot_destroy_extend_or_refill_sandboxes(leased: Sandbox) -> None:
    get_redis().delete("sandboxes")
    client = staff_with("view_sandbox")
    lease = leased.lease_expires_at

    assert offered_actions(client, "/admin/sandboxes/sandbox/") == set()
    for action in ("destroy_sandboxes", "extend_lease", "refill_pool"):
        response = client.post("/admin/sandboxes/sandbox/", {"action": action, "_selected_action": [str(leased.pk)]})
        assert response.status_code in (200, 302)

    leased.refresh_from_db()
    assert (leased.status, leased.lease_expires_at, leased.stopped_at) == (SandboxStatus.IN_USE, lease, None)
    assert get_redis().llen("sandboxes") == 0  # no pool refill was queued


def test_staff_with_the_change_permission_may_extend_a_lease_but_not_destroy(leased: Sandbox) -> None:
    client = staff_with("view_sandbox", "change_sandbox")
    lease = leased.lease_expires_at
    assert lease is not None

    assert offered_actions(client, "/admin/sandboxes/sandbox/") == {"extend_lease", "refill_pool"}
    client.post("/admin/sandboxes/sandbox/", {"action": "extend_lease", "_selected_action": [str(leased.pk)]})
    client.post("/admin/sandboxes/sandbox/", {"action": "destroy_sandboxes", "_selected_action": [str(leased.pk)]})

    leased.refresh_from_db()
    assert leased.status == SandboxStatus.IN_USE
    assert leased.lease_expires_at is not None and leased.lease_expires_at > lease


def test_view_only_staff_cannot_stop_a_running_turn(alice: Any) -> None:
    session = session_create(owner_id=alice.pk, mode="lite")
    turn = chat_send(session_id=session.id, message="work")
    Turn.objects.filter(pk=turn.pk).update(status="running")
    client = staff_with("view_turn")

    assert offered_actions(client, "/admin/agents/turn/") == set()
    client.post("/admin/agents/turn/", {"action": "stop_sessions", "_selected_action": [str(turn.pk)]})

    assert turn_stop_reason(str(turn.pk)) is None
    assert Turn.objects.get(pk=turn.pk).status == "running"
