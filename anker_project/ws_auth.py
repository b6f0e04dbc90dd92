"""WebSocket authentication: a JWT in `?token=`, an `Authorization: Api-Key <key>` header
(other systems following a job's events; the key's id goes in `scope["api_key_id"]`, which
makes it a principal of its own), else the Django session cookie. The key model belongs to an
app (jobs); this module imports none: the composition root (`asgi.py`) hands the stack the
function that looks a key up.

A browser always sends its Origin; a cookie-authenticated connection is admitted only from an
allowed origin — scheme, host and port all equal to the server's own origin, `PUBLIC_BASE_URL`
or an entry of `DJANGO_CSRF_TRUSTED_ORIGINS` — so a page on another site (or on another port
of the same host) cannot ride the user's cookie. A `*` in `DJANGO_ALLOWED_HOSTS` widens nothing
here.
"""

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.auth import get_user
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host

from .auth_tokens import access_token_user

DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, str, int]


@database_sync_to_async
def _user_from_token(raw: str) -> Any:
    return access_token_user(raw)


# `(raw key) -> key or None`: a key with `pk` and an active `owner`, or None for an unknown,
# revoked or expired one (or one whose owner is inactive). Synchronous; it may use the database.
ApiKeyLookup = Callable[[str], Any]


def _no_api_keys(raw: str) -> None:
    return None


def _api_key(scope: dict[str, Any]) -> str | None:
    header = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin1").split()
    if len(header) == 2 and header[0].lower() == "api-key":
        return header[1]
    return None


def parse_origin(value: str) -> Origin | None:
    """(scheme, host, port) of an origin or URL, with the scheme's default port; None if malformed."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme.lower(), parts.scheme.lower())
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def _trusted_origin(candidate: Origin, pattern: str) -> bool:
    """An entry of CSRF_TRUSTED_ORIGINS: exact, or Django's `https://*.example.com` (subdomains;
    scheme and port still exact). A bare `*` trusts nothing."""
    if "://*." in pattern:
        scheme, _, rest = pattern.partition("://*.")
        wanted = parse_origin(f"{scheme}://{rest}")
        return (
            wanted is not None
            and candidate[0] == wanted[0]
            and candidate[2] == wanted[2]
            and candidate[1].endswith("." + wanted[1])
        )
    return parse_origin(pattern) == candidate


def _origin_allowed(scope: dict[str, Any]) -> bool:
    headers = dict(scope.get("headers", []))
    origin = headers.get(b"origin")
    if origin is None:
        return True  # not a browser: there is no ambient cookie to abuse
    candidate = parse_origin(origin.decode("latin1"))
    if candidate is None:
        return False
    # The server's own origin: the Host the socket was opened to, under the socket's scheme.
    host = headers.get(b"host", b"").decode("latin1")
    own = parse_origin(f"{scope.get('scheme', 'ws')}://{host}") if host else None
    if own is not None and candidate == own and validate_host(own[1], list(settings.ALLOWED_HOSTS)):
        return True
    public = parse_origin(settings.PUBLIC_BASE_URL) if settings.PUBLIC_BASE_URL else None
    if public is not None and candidate == public:
        return True
    return any(_trusted_origin(candidate, pattern) for pattern in settings.CSRF_TRUSTED_ORIGINS)


class TokenOrSessionAuthMiddleware(BaseMiddleware):
    def __init__(self, inner: Any, api_key_lookup: ApiKeyLookup = _no_api_keys) -> None:
        super().__init__(inner)
        self._api_key_of = database_sync_to_async(api_key_lookup)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        scope = dict(scope)
        token = (parse_qs(scope.get("query_string", b"").decode("latin1")).get("token") or [""])[0]
        api_key = _api_key(scope)
        if token:
            scope["user"] = await _user_from_token(token) or AnonymousUser()
        elif api_key:
            key = await self._api_key_of(api_key)
            scope["user"] = key.owner if key is not None else AnonymousUser()
            scope["api_key_id"] = str(key.pk) if key is not None else None
        elif _origin_allowed(scope):
            scope["user"] = await get_user(scope)
        else:
            scope["user"] = AnonymousUser()
        return await self.inner(scope, receive, send)


def WebSocketAuthStack(inner: Any, *, api_key_lookup: ApiKeyLookup = _no_api_keys) -> Any:  # noqa: N802 - named like channels' AuthMiddlewareStack
    return CookieMiddleware(SessionMiddleware(TokenOrSessionAuthMiddleware(inner, api_key_lookup)))
