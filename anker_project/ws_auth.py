"""WebSocket authentication: a JWT in `?token=`, an `Authorization: Api-Key <key>` header
(other systems following a job's events), else the Django session cookie.

A browser always sends its Origin; a cookie-authenticated connection from a foreign
origin is refused, so a page on another site cannot ride the user's cookie.
"""

from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.auth import get_user
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken


@database_sync_to_async
def _user_from_token(raw: str) -> Any:
    try:
        token = AccessToken(raw)  # type: ignore[arg-type]
    except TokenError:
        return None
    user_id = token.get(str(settings.SIMPLE_JWT.get("USER_ID_CLAIM", "user_id")))
    return get_user_model().objects.filter(pk=user_id, is_active=True).first()


@database_sync_to_async
def _user_from_api_key(raw: str) -> Any:
    # Looked up by name: the key model belongs to the jobs app, which imports this package.
    model = apps.get_model("jobs", "JobApiKey")
    try:
        key = model.objects.get_from_key(raw)
    except model.DoesNotExist:
        return None
    owner = getattr(key, "owner", None)
    if key.has_expired or owner is None or not owner.is_active:
        return None
    return owner


def _api_key(scope: dict[str, Any]) -> str | None:
    header = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin1").split()
    if len(header) == 2 and header[0].lower() == "api-key":
        return header[1]
    return None


def _origin_allowed(scope: dict[str, Any]) -> bool:
    origin = dict(scope.get("headers", [])).get(b"origin")
    if origin is None:
        return True
    host = urlsplit(origin.decode("latin1")).hostname or ""
    return validate_host(host, list(settings.ALLOWED_HOSTS))


class TokenOrSessionAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        scope = dict(scope)
        token = (parse_qs(scope.get("query_string", b"").decode("latin1")).get("token") or [""])[0]
        api_key = _api_key(scope)
        if token:
            scope["user"] = await _user_from_token(token) or AnonymousUser()
        elif api_key:
            scope["user"] = await _user_from_api_key(api_key) or AnonymousUser()
        elif _origin_allowed(scope):
            scope["user"] = await get_user(scope)
        else:
            scope["user"] = AnonymousUser()
        return await self.inner(scope, receive, send)


def WebSocketAuthStack(inner: Any) -> Any:  # noqa: N802 - named like channels' AuthMiddlewareStack
    return CookieMiddleware(SessionMiddleware(TokenOrSessionAuthMiddleware(inner)))
