"""`/admin/login/` with the brute-force limits of `login_limits` in front of Django's admin login."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from .login_limits import (
    LoginThrottledError,
    client_address,
    login_failure_record,
    login_success_record,
    login_throttle_check,
)


def throttled_admin_login(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return admin.site.login(request)
    address, username = client_address(request), str(request.POST.get("username", ""))[:150]
    try:
        login_throttle_check(address=address, username=username)
    except LoginThrottledError as exc:
        response = HttpResponse(exc.message, status=429, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(exc.retry_after)
        return response
    response = admin.site.login(request)
    # The admin answers a successful login with a redirect, a failed one with the form again.
    if response.status_code == 302 and request.user.is_authenticated:
        login_success_record(username=username)
    elif response.status_code == 200:
        login_failure_record(address=address, username=username)
    return response
