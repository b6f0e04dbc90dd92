"""One URL, one view per operation (anker_project/routing.methods): the URL answers as one DRF
view serving all its methods did — Allow, HEAD, OPTIONS, 405, auth and CSRF order — and the
schema documents each method from its own view."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import resolve, reverse
from rest_framework.test import APIClient

from agents.apis import SessionDeleteApi, SessionGetApi, SessionUpdateApi
from anker_project.routing import MethodRouter, methods
from sessions.models import Session
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

DETAIL_ALLOW = "GET, PATCH, DELETE, HEAD, OPTIONS"


def _session(client: APIClient) -> str:
    response = client.put("/api/v1/sessions", {"mode": "lite"}, format="json")
    assert response.status_code == 200
    return str(response.json()["data"]["session_id"])


def test_the_detail_url_routes_each_method_to_its_own_view() -> None:
    router = resolve("/api/v1/sessions/abc").func

    assert isinstance(router, MethodRouter)
    assert {method: view.cls for method, view in router.method_views.items()} == {  # type: ignore[attr-defined]
        "get": SessionGetApi,
        "patch": SessionUpdateApi,
        "delete": SessionDeleteApi,
    }


def test_routed_urls_reverse_by_name() -> None:
    assert reverse("session-detail", kwargs={"session_id": "abc"}) == "/api/v1/sessions/abc"
    assert reverse("sandboxes") == "/api/v1/sandboxes"


def test_every_answer_lists_all_the_urls_methods_in_allow(alice_client: APIClient) -> None:
    session_id = _session(alice_client)

    got = alice_client.get(f"/api/v1/sessions/{session_id}")
    renamed = alice_client.patch(f"/api/v1/sessions/{session_id}", {"title": "Anchors"}, format="json")
    missing = alice_client.get("/api/v1/sessions/0000000000000000")

    assert got.status_code == 200 and got["Allow"] == DETAIL_ALLOW
    assert renamed.status_code == 200 and renamed["Allow"] == DETAIL_ALLOW
    assert renamed.json()["data"]["title"] == "Anchors"
    assert missing.status_code == 404 and missing["Allow"] == DETAIL_ALLOW


def test_a_method_no_view_serves_is_drfs_405_envelope_and_changes_nothing(alice_client: APIClient) -> None:
    session_id = _session(alice_client)

    refused = alice_client.put(f"/api/v1/sessions/{session_id}", {"title": "Nope"}, format="json")

    assert refused.status_code == 405
    assert refused["Allow"] == DETAIL_ALLOW
    assert refused.json() == {"code": 405, "msg": 'Method "PUT" not allowed.', "data": None}
    assert Session.objects.get(pk=session_id).title == ""


def test_head_is_answered_by_the_get_view_without_a_body(alice_client: APIClient) -> None:
    session_id = _session(alice_client)

    head = alice_client.head(f"/api/v1/sessions/{session_id}")
    foreign_head = APIClient().head(f"/api/v1/sessions/{session_id}")

    assert head.status_code == 200 and head.content == b""
    assert head["Allow"] == DETAIL_ALLOW
    assert foreign_head.status_code == 401


def test_head_on_a_url_without_get_is_a_405(alice_client: APIClient) -> None:
    response = alice_client.head("/api/v1/mcp-servers/1")

    assert response.status_code == 405
    assert response["Allow"] == "PUT, DELETE, OPTIONS"


def test_options_answers_drfs_metadata_with_the_urls_methods(alice_client: APIClient) -> None:
    response = alice_client.options("/api/v1/tool-rules")

    assert response.status_code == 200
    assert response["Allow"] == "GET, PUT, HEAD, OPTIONS"
    assert response.json()["renders"] == ["application/json"]


def test_authentication_comes_before_the_405(anon_client: APIClient) -> None:
    response = anon_client.post("/api/v1/sessions/0000000000000000")

    assert response.status_code == 401
    assert response["Allow"] == DETAIL_ALLOW


def test_a_cookie_login_needs_the_csrf_token_before_the_405_and_before_a_write(alice: Any) -> None:
    browser = APIClient(enforce_csrf_checks=True)
    assert browser.post("/api/v1/auth/login", {"username": "alice", "password": PASSWORD}, format="json").status_code
    session_id = _session_with_token(browser)

    unserved = browser.post(f"/api/v1/sessions/{session_id}")
    rename = browser.patch(f"/api/v1/sessions/{session_id}", {"title": "x"}, format="json")

    assert unserved.status_code == 403 and unserved.json()["msg"].startswith("CSRF Failed")
    assert rename.status_code == 403 and rename.json()["msg"].startswith("CSRF Failed")
    assert Session.objects.get(pk=session_id).title == ""


def _session_with_token(browser: APIClient) -> str:
    token = browser.cookies["csrftoken"].value
    response = browser.put("/api/v1/sessions", {"mode": "lite"}, format="json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
    return str(response.json()["data"]["session_id"])


def test_methods_takes_drf_views_only() -> None:
    with pytest.raises(ImproperlyConfigured):
        methods()
    with pytest.raises(ImproperlyConfigured):
        methods(get=lambda request: None)  # type: ignore[arg-type,return-value]
