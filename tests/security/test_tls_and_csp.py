"""Behind TLS (`PUBLIC_BASE_URL=https://...`): Secure cookies and HSTS; the proxy's scheme header
only when configured. And the web app's pages carry a Content-Security-Policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from django.test import Client

from tests.bootstrap import ROOT

# Runs in a fresh process: these settings are derived from the environment at start-up.
PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()

def probe(**headers):
    response = Client().get("/admin/login/", **headers)
    cookie = response.cookies.get("csrftoken")
    return {
        "hsts": response.headers.get("Strict-Transport-Security"),
        "csrf_cookie_secure": bool(cookie and cookie["secure"]),
        "csrf_cookie_samesite": cookie["samesite"] if cookie else None,
    }

print(json.dumps({
    "session_cookie": [
        settings.SESSION_COOKIE_SECURE, settings.SESSION_COOKIE_HTTPONLY, settings.SESSION_COOKIE_SAMESITE
    ],
    "proxy_header": settings.SECURE_PROXY_SSL_HEADER,
    "trusted_origins": settings.CSRF_TRUSTED_ORIGINS,
    "via_tls_proxy": probe(HTTP_X_FORWARDED_PROTO="https"),
    "plain_http": probe(),
}))
"""


def settings_under(**env: str) -> dict[str, Any]:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "anker_project.settings", **env}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_an_https_public_url_makes_cookies_secure_and_sends_hsts_through_a_configured_proxy() -> None:
    found = settings_under(PUBLIC_BASE_URL="https://anker.example.com", DJANGO_SECURE_PROXY_SSL_HEADER="true")

    assert found["session_cookie"] == [True, True, "Lax"]
    assert found["proxy_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert "https://anker.example.com" in found["trusted_origins"]
    assert found["via_tls_proxy"] == {
        "hsts": "max-age=31536000",
        "csrf_cookie_secure": True,
        "csrf_cookie_samesite": "Lax",
    }
    # A request the proxy did not mark as https gets no HSTS (a browser ignores it over http anyway).
    assert found["plain_http"]["hsts"] is None


def test_a_client_cannot_claim_https_when_no_proxy_header_is_configured() -> None:
    found = settings_under(PUBLIC_BASE_URL="https://anker.example.com")

    assert found["proxy_header"] is None
    assert found["via_tls_proxy"]["hsts"] is None  # X-Forwarded-Proto from a client is not believed
    assert found["session_cookie"] == [True, True, "Lax"]  # cookies are Secure all the same


def test_a_plain_http_deployment_keeps_cookies_usable_over_http() -> None:
    found = settings_under(PUBLIC_BASE_URL="http://127.0.0.1:8000")

    assert found["session_cookie"] == [False, True, "Lax"]
    assert found["via_tls_proxy"] == {"hsts": None, "csrf_cookie_secure": False, "csrf_cookie_samesite": "Lax"}


@pytest.mark.django_db
def test_the_web_apps_pages_forbid_remote_images_and_scripts() -> None:
    page = Client().get("/chat/0123456789abcdef")
    admin = Client().get("/admin/login/")

    policy = dict(directive.strip().split(" ", 1) for directive in page.headers["Content-Security-Policy"].split(";"))
    assert policy["img-src"] == "'self' data: blob:"
    assert policy["script-src"] == "'self'"
    assert policy["default-src"] == "'self'"
    assert policy["connect-src"] == "'self' ws://testserver"
    assert policy["frame-ancestors"] == "'none'"
    assert "Content-Security-Policy" not in admin.headers  # Django's own pages, not the web app
