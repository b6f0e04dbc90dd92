"""Brute-force limits on the API login and the admin login: per address and per username,
shared by every web process through Redis, with X-Forwarded-For believed only from trusted proxies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import PASSWORD, make_user
from tests.edge.conftest import Web

WINDOW = 900


def login(client: APIClient, username: str, password: str, **extra: Any) -> Any:
    return client.post("/api/v1/auth/login", {"username": username, "password": password}, format="json", **extra)


def assert_throttled(response: Any) -> None:
    assert response.status_code == 429
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= WINDOW
    assert response.json() == {
        "code": 429,
        "msg": f"Too many failed logins; try again in {retry_after} s.",
        "data": {"retry_after": retry_after},
    }
    assert "sessionid" not in response.cookies


@pytest.mark.django_db
def test_after_five_wrong_passwords_even_the_right_one_is_refused_with_429(alice: Any) -> None:
    client = APIClient()
    failures = [login(client, "alice", f"guess-{i}").status_code for i in range(5)]

    response = login(client, "alice", PASSWORD)

    assert failures == [401] * 5
    assert_throttled(response)


@pytest.mark.django_db
def test_the_username_limit_holds_from_every_address_and_any_letter_case(alice: Any) -> None:
    for i in range(5):
        login(APIClient(REMOTE_ADDR=f"198.51.100.{i}"), "alice", "wrong")

    assert_throttled(login(APIClient(REMOTE_ADDR="203.0.113.9"), "ALICE", PASSWORD))


@pytest.mark.django_db
def test_one_address_trying_many_usernames_is_stopped_by_the_address_limit(settings: Any, alice: Any) -> None:
    settings.LOGIN_MAX_FAILURES_PER_IP = 3
    client = APIClient(REMOTE_ADDR="198.51.100.7")
    failures = [login(client, f"user{i}", "wrong").status_code for i in range(3)]

    assert failures == [401] * 3
    assert_throttled(login(client, "alice", PASSWORD))
    assert login(APIClient(REMOTE_ADDR="198.51.100.8"), "alice", PASSWORD).status_code == 200


@pytest.mark.django_db
def test_a_successful_login_clears_the_usernames_failures(alice: Any) -> None:
    client = APIClient()
    for _ in range(4):
        login(client, "alice", "wrong")
    assert login(client, "alice", PASSWORD).status_code == 200

    failures = [login(client, "alice", "wrong").status_code for _ in range(5)]

    assert failures == [401] * 5
    assert_throttled(login(client, "alice", PASSWORD))


@pytest.mark.django_db
def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(settings: Any, alice: Any) -> None:
    settings.LOGIN_MAX_FAILURES_PER_IP = 3
    client = APIClient(REMOTE_ADDR="198.51.100.7")
    for i in range(3):  # a client rotating the header it sends itself
        login(client, f"user{i}", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")

    assert_throttled(login(client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.200"))


@pytest.mark.django_db
def test_behind_a_trusted_proxy_the_client_is_the_rightmost_untrusted_forwarded_address(
    settings: Any, alice: Any
) -> None:
    settings.LOGIN_MAX_FAILURES_PER_IP = 3
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    proxy = APIClient(REMOTE_ADDR="10.0.0.2")
    for i in range(3):  # the same client behind two proxies, prepending a fake address each time
        login(proxy, f"user{i}", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}, 203.0.113.5, 10.0.0.9")

    assert_throttled(login(proxy, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.99, 203.0.113.5"))
    # Another client behind the same proxy is not held back.
    assert login(proxy, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.6").status_code == 200


@pytest.mark.django_db
def test_the_admin_login_is_limited_too_and_shares_the_count_with_the_api(alice: Any) -> None:
    make_user("root", is_staff=True, is_superuser=True)
    browser = Client()
    for _ in range(3):
        login(APIClient(), "root", "wrong")
    pages = [browser.post("/admin/login/", {"username": "root", "password": "wrong"}).status_code for _ in range(2)]

    refused = browser.post("/admin/login/?next=/admin/", {"username": "root", "password": PASSWORD})

    assert pages == [200, 200]  # the form again, with its error
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert refused.content.decode().startswith("Too many failed logins; try again in ")
    assert "_auth_user_id" not in browser.session
    assert browser.get("/admin/").status_code == 302  # still logged out


@pytest.mark.django_db
def test_the_admin_login_still_logs_staff_in_below_the_limit() -> None:
    make_user("root", is_staff=True, is_superuser=True)
    browser = Client()

    response = browser.post("/admin/login/?next=/admin/", {"username": "root", "password": PASSWORD})

    assert (response.status_code, response["Location"]) == (302, "/admin/")
    assert browser.get("/admin/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_limit_holds_across_web_processes(start_web: Callable[..., Web]) -> None:
    make_user("carol")
    first, second = start_web(), start_web()

    statuses = [
        httpx.post(f"{web.url}/api/v1/auth/login", json={"username": "carol", "password": "wrong"}).status_code
        for web in (first, second, first, second, first)
    ]
    refused = httpx.post(f"{second.url}/api/v1/auth/login", json={"username": "carol", "password": PASSWORD})

    assert statuses == [401] * 5
    assert refused.status_code == 429
    assert refused.json()["data"]["retry_after"] == int(refused.headers["Retry-After"])
