"""Share links, the owner's side: create (with or without expiry), list, revoke; foreign sessions,
bad input and API keys. What a link shows is in test_shared_view.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from jobs.models import JobApiKey
from sessions.models import ShareLink
from sessions.services import session_create
from sessions.shares import token_hash

pytestmark = pytest.mark.django_db


def create_share(client: APIClient, session_id: str, **body: Any) -> Any:
    return client.post(f"/api/v1/sessions/{session_id}/shares", body, format="json")


def test_creating_a_link_answers_its_token_once_and_keeps_only_its_hash(alice: Any, alice_client: APIClient) -> None:
    session = session_create(owner_id=alice.pk, mode="agent")

    response = create_share(alice_client, session.id)

    assert response.status_code == 201
    data = response.json()["data"]
    token = data["token"]
    link = ShareLink.objects.get()
    assert data == {
        "share_id": link.id,
        "token_hint": token[:6],
        "created_at": int(link.created_at.timestamp()),
        "expires_at": None,
        "revoked_at": None,
        "active": True,
        "token": token,
        "path": f"/share/{token}",
        "url": f"http://testserver/share/{token}",
    }
    assert len(token) == 43
    assert (link.session_id, link.token_hash, link.api_key_id) == (session.id, token_hash(token), None)
    assert token not in {link.token_hash, link.token_hint, link.id}
    listed = alice_client.get(f"/api/v1/sessions/{session.id}/shares").json()["data"]["shares"]
    assert listed == [{key: data[key] for key in data if key not in ("token", "path", "url")}]


def test_a_link_with_an_expiry_expires_and_is_listed_inactive(alice: Any, alice_client: APIClient) -> None:
    session = session_create(owner_id=alice.pk, mode="agent")
    before = timezone.now()

    data = create_share(alice_client, session.id, expires_in_seconds=3600).json()["data"]

    link = ShareLink.objects.get()
    assert before + timedelta(seconds=3600) <= link.expires_at <= timezone.now() + timedelta(seconds=3600)
    assert data["expires_at"] == int(link.expires_at.timestamp())
    assert APIClient().get(f"/api/v1/shared/{data['token']}").status_code == 200
    # An hour later (the clock moved: the expiry is in the past now).
    ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert APIClient().get(f"/api/v1/shared/{data['token']}").json() == {
        "code": 404,
        "msg": "Share link not found",
        "data": None,
    }
    listed = alice_client.get(f"/api/v1/sessions/{session.id}/shares").json()["data"]["shares"]
    assert [(s["share_id"], s["active"], s["revoked_at"]) for s in listed] == [(link.id, False, None)]


def test_revoking_a_link_stops_it_at_once_and_a_second_revoke_changes_nothing(
    alice: Any, alice_client: APIClient
) -> None:
    session = session_create(owner_id=alice.pk, mode="agent")
    data = create_share(alice_client, session.id).json()["data"]
    url = f"/api/v1/sessions/{session.id}/shares/{data['share_id']}"

    first = alice_client.delete(url)
    revoked_at = ShareLink.objects.get().revoked_at
    second = alice_client.delete(url)

    assert first.status_code == 200
    assert first.json()["data"]["active"] is False
    assert first.json()["data"]["revoked_at"] == int(revoked_at.timestamp())
    assert second.json() == first.json()
    assert ShareLink.objects.get().revoked_at == revoked_at
    assert APIClient().get(f"/api/v1/shared/{data['token']}").status_code == 404


def test_another_users_session_and_link_are_404_and_nothing_changes(
    alice: Any, alice_client: APIClient, bob_client: APIClient
) -> None:
    session = session_create(owner_id=alice.pk, mode="agent")
    data = create_share(alice_client, session.id).json()["data"]
    not_found = {"code": 404, "msg": "Session not found", "data": None}

    created = create_share(bob_client, session.id)
    listed = bob_client.get(f"/api/v1/sessions/{session.id}/shares")
    revoked = bob_client.delete(f"/api/v1/sessions/{session.id}/shares/{data['share_id']}")

    assert [(r.status_code, r.json()) for r in (created, listed, revoked)] == [(404, not_found)] * 3
    assert ShareLink.objects.count() == 1
    assert ShareLink.objects.get().revoked_at is None


def test_a_link_of_another_session_is_not_found_under_this_one(alice: Any, alice_client: APIClient) -> None:
    mine, other = (session_create(owner_id=alice.pk, mode="agent") for _ in range(2))
    data = create_share(alice_client, other.id).json()["data"]

    response = alice_client.delete(f"/api/v1/sessions/{mine.id}/shares/{data['share_id']}")

    assert response.json() == {"code": 404, "msg": "Share link not found", "data": None}
    assert ShareLink.objects.get().revoked_at is None


@pytest.mark.parametrize(
    ("body", "msg"),
    [
        ({"expires_in_seconds": 59}, "expires_in_seconds: Ensure this value is greater than or equal to 60."),
        (
            {"expires_in_seconds": 365 * 24 * 3600 + 1},
            "expires_in_seconds: Ensure this value is less than or equal to 31536000.",
        ),
        ({"expires_in_seconds": "soon"}, "expires_in_seconds: A valid integer is required."),
        ({"expires_in_seconds": -5}, "expires_in_seconds: Ensure this value is greater than or equal to 60."),
    ],
)
def test_bad_input_is_a_422_that_names_the_field_and_creates_nothing(
    alice: Any, alice_client: APIClient, body: dict[str, Any], msg: str
) -> None:
    session = session_create(owner_id=alice.pk, mode="agent")

    response = create_share(alice_client, session.id, **body)

    assert response.status_code == 422
    assert response.json()["msg"] == msg
    assert ShareLink.objects.count() == 0


def test_a_body_that_is_not_an_object_is_a_422(alice: Any, alice_client: APIClient) -> None:
    session = session_create(owner_id=alice.pk, mode="agent")

    response = alice_client.post(f"/api/v1/sessions/{session.id}/shares", [1, 2], format="json")

    assert response.status_code == 422
    assert ShareLink.objects.count() == 0


def test_a_session_has_at_most_the_configured_number_of_live_links(
    alice: Any, alice_client: APIClient, settings: Any
) -> None:
    settings.SHARE_MAX_ACTIVE_PER_SESSION = 2
    session = session_create(owner_id=alice.pk, mode="agent")
    first = create_share(alice_client, session.id).json()["data"]
    create_share(alice_client, session.id)

    refused = create_share(alice_client, session.id)
    alice_client.delete(f"/api/v1/sessions/{session.id}/shares/{first['share_id']}")
    after_revoke = create_share(alice_client, session.id)

    assert refused.json() == {
        "code": 409,
        "msg": "A session has at most 2 active share links; revoke one first.",
        "data": None,
    }
    assert after_revoke.status_code == 201
    assert ShareLink.objects.count() == 3


def test_deleting_the_session_deletes_its_links(alice: Any, alice_client: APIClient) -> None:
    session = session_create(owner_id=alice.pk, mode="lite")
    token = create_share(alice_client, session.id).json()["data"]["token"]

    assert alice_client.delete(f"/api/v1/sessions/{session.id}").status_code == 200

    assert ShareLink.objects.count() == 0
    assert APIClient().get(f"/api/v1/shared/{token}").status_code == 404


def test_an_api_key_shares_its_own_jobs_sessions_only(alice: Any, alice_client: APIClient) -> None:
    key, raw = JobApiKey.objects.create_key(owner=alice, name="ci")
    key_client = APIClient()
    key_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    job_session = session_create(owner_id=alice.pk, mode="agent", api_key_id=str(key.pk))
    personal = session_create(owner_id=alice.pk, mode="agent")
    owners_link = create_share(alice_client, personal.id).json()["data"]

    own = create_share(key_client, job_session.id)
    foreign = create_share(key_client, personal.id)
    foreign_list = key_client.get(f"/api/v1/sessions/{personal.id}/shares")
    foreign_revoke = key_client.delete(f"/api/v1/sessions/{personal.id}/shares/{owners_link['share_id']}")

    assert own.status_code == 201
    assert ShareLink.objects.get(pk=own.json()["data"]["share_id"]).api_key_id == str(key.pk)
    assert [r.status_code for r in (foreign, foreign_list, foreign_revoke)] == [404, 404, 404]
    assert ShareLink.objects.get(pk=owners_link["share_id"]).revoked_at is None
    # The owner sees (and may revoke) the link the key made for the job's session.
    listed = alice_client.get(f"/api/v1/sessions/{job_session.id}/shares").json()["data"]["shares"]
    assert [s["share_id"] for s in listed] == [own.json()["data"]["share_id"]]


def test_creating_a_link_needs_a_login(alice: Any) -> None:
    session = session_create(owner_id=alice.pk, mode="agent")

    response = create_share(APIClient(), session.id)

    assert response.status_code == 401
    assert ShareLink.objects.count() == 0
