"""Health reporting and the admin's session timeline and stop action."""

from typing import Any

import pytest
from django.test import Client

from agents.control import turn_stop_reason
from agents.models import Turn
from agents.services import chat_send
from sessions.events import MessageEvent, ToolEvent
from sessions.publisher import event_publish
from sessions.services import session_create
from tests.conftest import make_user


@pytest.fixture
def staff_client(db: None) -> Client:
    admin = make_user("root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    return client


@pytest.mark.django_db(transaction=True)
def test_the_admin_shows_a_sessions_event_timeline(staff_client: Client, alice: Any) -> None:
    session = session_create(owner_id=alice.pk, mode="lite")
    event_publish(session.id, MessageEvent(role="user", content="<b>hello</b> admin"))
    event_publish(
        session.id,
        ToolEvent(tool_call_id="c1", name="shell", function="shell_exec", args={"command": "ls"}, status="calling"),
    )

    response = staff_client.get(f"/admin/chat_sessions/session/{session.id}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "user: &lt;b&gt;hello&lt;/b&gt; admin" in html  # escaped, never rendered
    assert "shell_exec calling {&#x27;command&#x27;: &#x27;ls&#x27;}" in html


@pytest.mark.django_db(transaction=True)
def test_the_admin_stop_action_asks_running_turns_to_stop(staff_client: Client, alice: Any) -> None:
    session = session_create(owner_id=alice.pk, mode="lite")
    turn = chat_send(session_id=session.id, message="work")
    Turn.objects.filter(pk=turn.pk).update(status="running")

    response = staff_client.post(
        "/admin/agents/turn/", {"action": "stop_sessions", "_selected_action": [str(turn.pk)]}, follow=True
    )

    assert response.status_code == 200
    assert "Asked 1 active turn(s) to stop." in response.content.decode()
    assert turn_stop_reason(str(turn.pk)) == "stop"


@pytest.mark.django_db
def test_the_admin_is_closed_to_non_staff(alice: Any) -> None:
    client = Client()
    client.force_login(alice)

    response = client.get("/admin/chat_sessions/session/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
