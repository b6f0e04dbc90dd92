"""`Authorization: Api-Key <key>`: the request acts as the key's owner, `request.auth` is the key."""

from __future__ import annotations

from typing import Any, cast

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from .models import JobApiKey

KEYWORD = "Api-Key"


def api_key_lookup(raw: str) -> JobApiKey | None:
    """The usable key for `raw` (known, not revoked or expired, its owner active), else None.
    The WebSocket stack authenticates `Api-Key` headers with it (wired in `anker_project/asgi.py`)."""
    try:
        key = cast(JobApiKey, JobApiKey.objects.get_from_key(raw))
    except JobApiKey.DoesNotExist:
        return None
    if key.has_expired or not key.owner.is_active:
        return None
    return key


class JobApiKeyAuthentication(authentication.BaseAuthentication):
    """Unknown, revoked and expired keys are refused (401); other schemes are left to the
    other authentication classes."""

    def authenticate(self, request: Request) -> tuple[Any, JobApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin1").split()
        if not header or header[0].lower() != KEYWORD.lower():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the header as `Authorization: Api-Key <key>`.")
        try:
            key = cast(JobApiKey, JobApiKey.objects.get_from_key(header[1]))
        except JobApiKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.") from None
        if key.has_expired:
            raise exceptions.AuthenticationFailed("This API key has expired.")
        if not key.owner.is_active:
            raise exceptions.AuthenticationFailed("The owner of this API key is inactive.")
        return key.owner, key

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD
