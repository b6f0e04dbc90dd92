"""Auth endpoints and the envelope on every kind of error."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_login_returns_a_token_pair_and_the_user(anon_client: APIClient, alice: Any) -> None:
    response = anon_client.post("/api/v1/auth/login", {"username": "alice", "password": PASSWORD}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 0 and body["msg"] == "success"
    data = body["data"]
    assert data["token_type"] == "bearer"
    assert data["user"] == {"id": alice.pk, "username": "alice", "email": "alice@example.test", "is_staff": False}
    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {data['access_token']}")
    assert me.get("/api/v1/auth/me").json() == {"code": 0, "msg": "success", "data": data["user"]}
    assert "sessionid" in response.cookies  # the browser may use the cookie instead


def test_login_with_a_wrong_password_is_401(anon_client: APIClient, alice: Any) -> None:
    response = anon_client.post("/api/v1/auth/login", {"username": "alice", "password": "nope"}, format="json")

    assert response.status_code == 401
    assert response.json() == {"code": 401, "msg": "Invalid username or password.", "data": None}


def test_login_without_fields_is_422_with_field_errors(anon_client: APIClient) -> None:
    response = anon_client.post("/api/v1/auth/login", {}, format="json")

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == 422
    assert body["msg"] == "username: This field is required.; password: This field is required."
    assert set(body["data"]["errors"]) == {"username", "password"}


def test_refresh_rotates_and_the_old_refresh_token_is_revoked(anon_client: APIClient, alice: Any) -> None:
    login = anon_client.post("/api/v1/auth/login", {"username": "alice", "password": PASSWORD}, format="json")
    old = login.json()["data"]["refresh_token"]

    first = anon_client.post("/api/v1/auth/refresh", {"refresh_token": old}, format="json")
    again = anon_client.post("/api/v1/auth/refresh", {"refresh_token": old}, format="json")

    assert first.status_code == 200
    assert first.json()["data"]["token_type"] == "bearer"
    assert first.json()["data"]["refresh_token"] != old
    assert again.status_code == 401
    assert again.json()["code"] == 401


def test_logout_revokes_the_refresh_token(alice_client: APIClient, anon_client: APIClient) -> None:
    login = anon_client.post("/api/v1/auth/login", {"username": "alice", "password": PASSWORD}, format="json")
    refresh = login.json()["data"]["refresh_token"]

    out = alice_client.post("/api/v1/auth/logout", {"refresh_token": refresh}, format="json")
    after = anon_client.post("/api/v1/auth/refresh", {"refresh_token": refresh}, format="json")

    assert out.json() == {"code": 0, "msg": "success", "data": None}
    assert after.status_code == 401


def test_missing_credentials_get_a_401_envelope(anon_client: APIClient) -> None:
    response = anon_client.get("/api/v1/sessions")

    assert response.status_code == 401
    assert response.json() == {"code": 401, "msg": "Authentication credentials were not provided.", "data": None}


def test_a_garbage_token_gets_a_401_envelope(anon_client: APIClient) -> None:
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")

    response = anon_client.get("/api/v1/sessions")

    assert response.status_code == 401
    assert response.json()["code"] == 401
    assert response.json()["data"] is None


def test_malformed_json_is_a_400_envelope(alice_client: APIClient) -> None:
    response = alice_client.generic("PUT", "/api/v1/sessions", "{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == 400
    assert response.json()["msg"].startswith("JSON parse error")


def test_a_wrong_method_is_a_405_envelope(alice_client: APIClient) -> None:
    response = alice_client.post("/api/v1/sessions", {}, format="json")

    assert response.status_code == 405
    assert response.json() == {"code": 405, "msg": 'Method "POST" not allowed.', "data": None}


def test_an_unknown_api_path_is_a_404_envelope(alice_client: APIClient) -> None:
    response = alice_client.get("/api/v1/nothing-here")

    assert response.status_code == 404
    assert response.json() == {"code": 404, "msg": "Not found.", "data": None}


def test_the_openapi_schema_and_docs_are_served(anon_client: APIClient) -> None:
    schema = anon_client.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = anon_client.get("/api/docs")

    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/v1/sessions",
        "/api/v1/sessions/{session_id}",
        "/api/v1/sessions/{session_id}/chat",
        "/api/v1/sessions/{session_id}/stop",
        "/api/v1/auth/login",
    ):
        assert path in paths
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content


def test_cookie_auth_requires_the_csrf_token_for_writes(alice: Any) -> None:
    browser = APIClient(enforce_csrf_checks=True)
    login = browser.post("/api/v1/auth/login", {"username": "alice", "password": PASSWORD}, format="json")
    assert login.status_code == 200

    listed = browser.get("/api/v1/sessions")
    refused = browser.put("/api/v1/sessions", {}, format="json")
    allowed = browser.put("/api/v1/sessions", {}, format="json", HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value)

    assert listed.status_code == 200  # reads need no token
    assert refused.status_code == 403
    assert refused.json()["code"] == 403
    assert refused.json()["msg"].startswith("CSRF Failed")
    assert allowed.status_code == 200
