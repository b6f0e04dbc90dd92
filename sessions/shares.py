"""Share links: a session's owner lets anyone with a link read its timeline, and nothing else.

- `share_create` makes a link with an unguessable token (256 bits, shown once) and keeps only
  its SHA-256; `share_list` and `share_revoke` are scoped to the caller like every session read
  (a foreign session is a 404).
- `share_resolve` turns a token into its live link. An unknown, revoked or expired token, or a
  malformed one, is the same `NotFoundError` after the same single indexed query, so an answer
  tells nothing about which of these it was.
- `shared_timeline` is what the link shows (sessions/shared_view.py builds it): the session's
  title, mode, status and events, with file references narrowed to files the viewer may fetch.
- `share_read_throttle` counts anonymous reads per client address (Redis, fixed window), like
  the login's limits: the only state a share read writes.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from anker_project.errors import ApplicationError, ConflictError, NotFoundError
from anker_project.principal import Principal
from anker_project.redis_client import get_redis

from .models import Session, ShareLink
from .selectors import session_get

TOKEN_BYTES = 32
# token_urlsafe(32) is 43 characters of [A-Za-z0-9_-]; anything else cannot be a token.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
HINT_CHARS = 6
THROTTLE_KEY_PREFIX = "anker:share-reads"
THROTTLE_WINDOW_SECONDS = 60


class ShareThrottledError(ApplicationError):
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many requests for shared sessions; try again in {retry_after} s.")
        self.retry_after = retry_after


@dataclass(frozen=True)
class CreatedShare:
    """A new link and its token: the only moment the token exists outside the viewer's URL."""

    link: ShareLink
    token: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def share_path(token: str) -> str:
    """Where the web app shows a shared session."""
    return f"/share/{token}"


def share_is_active(link: ShareLink, *, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return link.revoked_at is None and (link.expires_at is None or link.expires_at > now)


def share_item(link: ShareLink) -> dict[str, object]:
    """A link as its owner sees it in a list (never the token: it is not kept)."""
    return {
        "share_id": link.id,
        "token_hint": link.token_hint,
        "created_at": int(link.created_at.timestamp()),
        "expires_at": int(link.expires_at.timestamp()) if link.expires_at else None,
        "revoked_at": int(link.revoked_at.timestamp()) if link.revoked_at else None,
        "active": share_is_active(link),
    }


def share_create(*, principal: Principal, session_id: str, expires_in_seconds: int | None = None) -> CreatedShare:
    """A new read-only link to a session the caller sees; never expires when `expires_in_seconds`
    is None. At most SHARE_MAX_ACTIVE_PER_SESSION live links per session (ConflictError past it)."""
    session = session_get(principal=principal, session_id=session_id)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = timezone.now()
    expires_at = now + timedelta(seconds=expires_in_seconds) if expires_in_seconds is not None else None
    with transaction.atomic():
        # The session row's lock makes the count and the insert one step for concurrent creates.
        Session.objects.select_for_update().filter(pk=session.pk).first()
        if _active(ShareLink.objects.filter(session=session), now).count() >= settings.SHARE_MAX_ACTIVE_PER_SESSION:
            raise ConflictError(
                f"A session has at most {settings.SHARE_MAX_ACTIVE_PER_SESSION} active share links; revoke one first."
            )
        link = ShareLink.objects.create(
            session=session,
            token_hash=token_hash(token),
            token_hint=token[:HINT_CHARS],
            api_key_id=principal.api_key_id,
            expires_at=expires_at,
        )
    return CreatedShare(link=link, token=token)


def _active(links: QuerySet[ShareLink], now: datetime) -> QuerySet[ShareLink]:
    return links.filter(revoked_at__isnull=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def share_list(*, principal: Principal, session_id: str) -> list[ShareLink]:
    """Every link of a session the caller sees, newest first, revoked and expired ones included."""
    session = session_get(principal=principal, session_id=session_id)
    return list(ShareLink.objects.filter(session=session).order_by("-created_at", "-id"))


def share_revoke(*, principal: Principal, session_id: str, share_id: str) -> ShareLink:
    """Revoke a link (from now on its token is not found). Revoking a revoked link changes nothing."""
    session = session_get(principal=principal, session_id=session_id)
    links = ShareLink.objects.filter(session=session, pk=share_id)
    # Compare-and-set: the first revoke sets the time; a second one keeps it.
    links.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    link = links.first()
    if link is None:
        raise NotFoundError("Share link not found")
    return link


def share_resolve(*, token: str) -> ShareLink:
    """The live link of `token`, with its session. Anything else is NotFoundError."""
    digest = token_hash(token if TOKEN_PATTERN.fullmatch(token) else "")
    link = _active(ShareLink.objects.select_related("session"), timezone.now()).filter(token_hash=digest).first()
    if link is None or not TOKEN_PATTERN.fullmatch(token):
        raise NotFoundError("Share link not found")
    return link


def share_read_throttle(*, address: str) -> None:
    """Count one anonymous read from `address`; ShareThrottledError past SHARE_READS_PER_MINUTE."""
    key = f"{THROTTLE_KEY_PREFIX}:{address}"
    with get_redis().pipeline() as pipe:
        pipe.incr(key)
        pipe.expire(key, THROTTLE_WINDOW_SECONDS, nx=True)
        pipe.ttl(key)
        count, _, ttl = pipe.execute()
    if int(count) > settings.SHARE_READS_PER_MINUTE:
        raise ShareThrottledError(max(1, int(ttl)))
