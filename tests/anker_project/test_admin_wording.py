"""The admin reads as Anker's, in plain English: its name, plurals, and turn states that say
what happened (a stopped turn is "Stopped", a turn that asked the user is not left "Waiting")."""

from typing import Any

import pytest
from django.test import Client

from agents.models import Turn, TurnStatus
from sessions.services import session_create
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(db: None) -> Client:
    client = Client()
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


def test_the_admin_is_branded_anker_and_says_sandboxes(staff_client: Client) -> None:
    index = staff_client.get("/admin/").content.decode()
    sandboxes = staff_client.get("/admin/sandboxes/sandbox/").content.decode()

    assert '<div id="site-name"><a href="/admin/">Anker administration</a></div>' in index
    assert "Django administration" not in index
    assert "<h1>Sandboxes</h1>" in sandboxes
    assert "<h2>local backend · warm pool of 0 · leases end after 30 min idle</h2>" in sandboxes
    assert ">Sandboxes<" in index and "Sandboxs" not in index


def test_turns_read_stopped_and_asked_in_the_admin(staff_client: Client, alice: Any) -> None:
    session = session_create(owner_id=alice.pk, mode="agent")
    Turn.objects.create(session=session, mode="agent", message="stop me", status=TurnStatus.CANCELLED)
    Turn.objects.create(session=session, mode="agent", message="ask me", status=TurnStatus.WAITING)

    html = staff_client.get("/admin/agents/turn/").content.decode()

    assert '<td class="field-status">Stopped</td>' in html
    assert '<td class="field-status">Asked the user</td>' in html
    assert "Cancelled" not in html and ">Waiting<" not in html
