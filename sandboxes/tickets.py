"""VNC tickets: short-lived, single-use, signed grants to watch (or drive) one session's screen.

A ticket is `TimestampSigner.sign_object({user, api key, session, view_only, nonce})`: it is
bound to the principal that asked for it (a user, or an API key for its own job's session).
Redeeming it checks the signature and age, that it names this session and (when the socket is
authenticated) this principal, that the principal still sees the session, and then burns the
nonce in Redis (SET NX) so it works once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing

from anker_project.principal import Principal
from anker_project.redis_client import get_redis
from sessions.selectors import session_visible

from .selectors import NO_SANDBOX_MESSAGE, sandbox_for_session

SALT = "anker.sandboxes.vnc-ticket"
USED_KEY = "sandboxes:vnc-ticket-used:{nonce}"

CLOSE_NO_TICKET = 4001
CLOSE_FORBIDDEN = 4003
CLOSE_NO_SANDBOX = 4004


class TicketRefused(Exception):  # noqa: N818 - a refusal, with the WebSocket close code
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class VncGrant:
    vnc_ws_url: str  # the sandbox tool API's /vnc relay
    token: str  # the sandbox's bearer token, for the relay
    view_only: bool


def vnc_ticket_issue(*, principal: Principal, session_id: str, view_only: bool) -> dict[str, Any]:
    """A ticket for the caller's session (visibility is checked by the caller's selector)."""
    ticket = signing.TimestampSigner(salt=SALT).sign_object(
        {
            "u": principal.user_id,
            "k": principal.api_key_id,
            "s": session_id,
            "v": view_only,
            "n": secrets.token_urlsafe(16),
        }
    )
    return {
        "ticket": ticket,
        "expires_in": settings.SANDBOX_VNC_TICKET_SECONDS,
        "url": f"/api/v1/sessions/{session_id}/vnc?ticket={ticket}",
    }


def vnc_ticket_redeem(*, ticket: str, session_id: str, socket_principal: Principal | None) -> VncGrant:
    """Check and burn a ticket; raises TicketRefused with the close code to use."""
    if not ticket:
        raise TicketRefused(CLOSE_NO_TICKET, "a ticket is required")
    try:
        claims = signing.TimestampSigner(salt=SALT).unsign_object(ticket, max_age=settings.SANDBOX_VNC_TICKET_SECONDS)
    except signing.SignatureExpired as exc:
        raise TicketRefused(CLOSE_FORBIDDEN, "the ticket expired") from exc
    except signing.BadSignature as exc:
        raise TicketRefused(CLOSE_FORBIDDEN, "the ticket is not valid") from exc
    if claims.get("s") != session_id:
        raise TicketRefused(CLOSE_FORBIDDEN, "the ticket is for another session")
    holder = Principal(user_id=int(claims["u"]), api_key_id=claims.get("k"))
    if socket_principal is not None and socket_principal != holder:
        raise TicketRefused(CLOSE_FORBIDDEN, "the ticket is another principal's")
    if not session_visible(principal=holder, session_id=session_id):
        raise TicketRefused(CLOSE_FORBIDDEN, "the ticket is not valid")
    used = get_redis().set(
        USED_KEY.format(nonce=claims["n"]), b"1", nx=True, ex=settings.SANDBOX_VNC_TICKET_SECONDS + 5
    )
    if not used:
        raise TicketRefused(CLOSE_FORBIDDEN, "the ticket was already used")
    sandbox = sandbox_for_session(session_id=session_id)
    if sandbox is None or not sandbox.vnc_ws_url:
        raise TicketRefused(CLOSE_NO_SANDBOX, NO_SANDBOX_MESSAGE if sandbox is None else "this sandbox has no screen")
    return VncGrant(vnc_ws_url=sandbox.vnc_ws_url, token=sandbox.token, view_only=bool(claims.get("v")))
