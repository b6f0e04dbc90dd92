"""Who is asking. Every read and write reached from a request is scoped to a `Principal`.

- a **user** (JWT or the browser's cookie) sees every session they own, job sessions included;
- an **API key** acts for its owner but is a principal of its own: it sees only the sessions of
  the jobs submitted with it, and starts work only through the jobs API.

The key model belongs to the jobs app (which this package must not import); every API key
model derives from the library's `AbstractAPIKey`, so that is what is recognised here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rest_framework.request import Request
from rest_framework_api_key.models import AbstractAPIKey

from .errors import ApplicationError


class ApiKeyForbiddenError(ApplicationError):
    """An API key tried something only a user may do (start a chat, create a session)."""

    status = 403


@dataclass(frozen=True)
class Principal:
    user_id: int
    # Set when the caller is an API key: then only the sessions of its own jobs exist for it.
    api_key_id: str | None = None

    @property
    def is_api_key(self) -> bool:
        return self.api_key_id is not None

    def forbid_api_key(self, what: str) -> None:
        """Refuse an API key (403) with a message that says where to go instead."""
        if self.is_api_key:
            raise ApiKeyForbiddenError(
                f"An API key cannot {what}: it starts work only through the jobs API "
                "(POST /api/v1/jobs, POST /api/v1/jobs/{id}/reply)."
            )


def principal_of(user: Any, auth: Any = None) -> Principal:
    """The principal of an authenticated user and the credential they came with."""
    assert user is not None and user.is_authenticated and user.pk is not None
    api_key_id = str(auth.pk) if isinstance(auth, AbstractAPIKey) else None
    return Principal(user_id=int(user.pk), api_key_id=api_key_id)


def request_principal(request: Request) -> Principal:
    """The caller of a request that passed IsAuthenticated."""
    return principal_of(request.user, request.auth)


def scope_principal(scope: dict[str, Any]) -> Principal | None:
    """The caller of a WebSocket (see ws_auth), or None when it is not authenticated."""
    user = scope.get("user")
    if user is None or not user.is_authenticated or user.pk is None:
        return None
    return Principal(user_id=int(user.pk), api_key_id=scope.get("api_key_id"))
