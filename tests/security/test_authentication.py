"""Authentication attacks: tokens that outlive a password change or a deactivation, login CSRF,
and cookie-authenticated WebSockets opened from a foreign origin."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from anker_project.asgi import application
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

INVALID = "The refresh token is invalid or expired; log in again."
REVOKED = "The refresh token was revoked ({why}); log in again."


def login(username: str = "alice") -> dict[str, Any]:
    response = APIClient().post("/api/v1/auth/login", {"username": username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.json()
    return dict(response.json()["data"])


def refresh(token: str) -> Any:
    return APIClient().post("/api/v1/auth/refresh", {"refresh_token": token}, format="json")


def me(access: str) -> Any:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/v1/auth/me")


def test_a_password_change_invalidates_every_outstanding_refresh_token(alice: Any) -> None:
    laptop, phone = login(), login()

    alice.set_password("a brand new passphrase")
    alice.save()

    for pair in (laptop, phone):
        response = refresh(pair["refresh_token"])
        assert response.status_code == 401
        assert response.json() == {"code": 401, "msg": INVALID, "data": None}
        assert me(pair["access_token"]).status_code == 401
    outstanding = OutstandingToken.objects.filter(user=alice)
    assert outstanding.count() == 2  # no new token was issued by the refused refreshes
    assert BlacklistedToken.objects.filter(token__in=outstanding).count() == 2


def test_a_password_changed_behind_the_models_back_still_invalidates_refresh_tokens(alice: Any) -> None:
    pair = login()

    # A bulk update sends no signal: the token's password claim alone must catch it.
    get_user_model().objects.filter(pk=alice.pk).update(password=make_password("changed in SQL"))

    response = refresh(pair["refresh_token"])
    assert response.status_code == 401
    assert response.json()["msg"] == REVOKED.format(why="the password changed since this token was issued")
    assert me(pair["access_token"]).status_code == 401
    assert OutstandingToken.objects.filter(user=alice).count() == 1
    assert refresh(pair["refresh_token"]).json()["msg"] == INVALID  # and it stays blacklisted


def test_a_deactivated_users_refresh_tokens_stay_dead_after_reactivation(alice: Any) -> None:
    pair = login()

    alice.is_active = False
    alice.save()
    while_inactive = refresh(pair["refresh_token"])
    alice.is_active = True
    alice.save()
    after_reactivation = refresh(pair["refresh_token"])

    assert while_inactive.status_code == 401
    assert after_reactivation.status_code == 401
    assert after_reactivation.json()["msg"] == INVALID
    assert BlacklistedToken.objects.filter(token__user=alice).count() == 1
    assert refresh(login()["refresh_token"]).status_code == 200  # a fresh login works again


def test_a_refresh_token_unused_while_deactivated_is_dead_after_reactivation(alice: Any) -> None:
    pair = login()

    alice.is_active = False
    alice.save()
    alice.is_active = True
    alice.save()

    assert refresh(pair["refresh_token"]).status_code == 401


async def test_a_websocket_token_dies_with_the_password(alice: Any) -> None:
    pair = await sync_to_async(login)()

    def change() -> None:
        alice.set_password("another passphrase")
        alice.save()

    await sync_to_async(change)()
    ws = WebsocketCommunicator(application, f"/api/v1/ws/sessions?token={pair['access_token']}")
    connected, _ = await ws.connect(timeout=10)
    message = await ws.receive_output(10)
    await ws.disconnect()

    assert connected
    assert (message["type"], message["code"]) == ("websocket.close", 4001)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart", {"username": "alice", "password": PASSWORD}),
        ("application/x-www-form-urlencoded", f"username=alice&password={PASSWORD}"),
        ("text/plain", '{"username": "alice", "password": "' + PASSWORD + '"}'),
    ],
)
def test_login_refuses_a_cross_site_form_post(alice: Any, content_type: str, body: Any) -> None:
    client = APIClient()
    if content_type == "multipart":
        response = client.post("/api/v1/auth/login", body, format="multipart")
    else:
        response = client.post("/api/v1/auth/login", body, content_type=content_type)

    assert response.status_code == 415
    assert response.json() == {
        "code": 415,
        "msg": "Log in with a JSON body: Content-Type: application/json.",
        "data": None,
    }
    assert "sessionid" not in response.cookies
    alice.refresh_from_db()
    assert alice.last_login is None
    assert OutstandingToken.objects.count() == 0


def _cookie_header(user: Any) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def _list_socket(cookie: bytes, origin: str | None, host: str = "127.0.0.1:8000") -> int | str:
    """The close code of a cookie-authenticated session-list socket, or "open" when admitted."""
    headers = [(b"cookie", cookie), (b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    ws = WebsocketCommunicator(application, "/api/v1/ws/sessions", headers=headers)
    connected, _ = await ws.connect(timeout=10)
    assert connected
    message = await ws.receive_output(10)
    await ws.disconnect()
    if message["type"] == "websocket.close":
        return int(message["code"])
    return "open"


async def test_a_cookie_websocket_from_another_port_or_scheme_of_the_same_host_is_refused(alice: Any) -> None:
    cookie = await sync_to_async(_cookie_header)(alice)

    assert await _list_socket(cookie, "http://127.0.0.1:8000") == "open"  # the app itself
    assert await _list_socket(cookie, "http://127.0.0.1:8080") == 4001  # another app on this host
    assert await _list_socket(cookie, "https://127.0.0.1:8000") == 4001
    assert await _list_socket(cookie, "http://127.0.0.1") == 4001  # port 80
    assert await _list_socket(cookie, "null") == 4001  # sandboxed iframes, file: pages
    assert await _list_socket(cookie, "http://evil.example:8000") == 4001


async def test_a_wildcard_allowed_host_does_not_admit_foreign_origins(alice: Any, settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["*"]
    settings.CSRF_TRUSTED_ORIGINS = ["*"]
    cookie = await sync_to_async(_cookie_header)(alice)

    assert await _list_socket(cookie, "https://evil.example") == 4001
    assert await _list_socket(cookie, "http://anker.example.com", host="anker.example.com") == "open"


async def test_the_public_base_url_and_trusted_origins_are_matched_exactly(alice: Any, settings: Any) -> None:
    settings.PUBLIC_BASE_URL = "https://anker.example.com"
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.corp.example:8443"]
    cookie = await sync_to_async(_cookie_header)(alice)

    # Behind a TLS proxy the socket itself arrives as plain ws on the internal host.
    assert await _list_socket(cookie, "https://anker.example.com", host="127.0.0.1:8000") == "open"
    assert await _list_socket(cookie, "https://anker.example.com:444", host="127.0.0.1:8000") == 4001
    assert await _list_socket(cookie, "http://anker.example.com", host="127.0.0.1:8000") == 4001
    assert await _list_socket(cookie, "https://ops.corp.example:8443", host="127.0.0.1:8000") == "open"
    assert await _list_socket(cookie, "https://ops.corp.example", host="127.0.0.1:8000") == 4001
    assert await _list_socket(cookie, "https://corp.example.evil:8443", host="127.0.0.1:8000") == 4001
