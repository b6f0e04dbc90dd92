"""Brute-force limits of the two password logins (`POST /api/v1/auth/login`, `/admin/login/`).

Failed attempts are counted in Redis (so every web process shares the count) per client address
and per username, each in a fixed window of LOGIN_FAILURE_WINDOW_SECONDS. Once either count
reaches its limit, further attempts are refused without checking the password until the window
ends (429 with `Retry-After`). A successful login clears its username's count, not its address's:
an attacker cannot reset their address by logging in to an account of their own in between.

The client address is the peer's (REMOTE_ADDR). Behind reverse proxies listed in TRUSTED_PROXIES
it is taken from X-Forwarded-For: the rightmost address that is not itself a trusted proxy.
Without that setting the header is ignored, so a client cannot choose the address it is counted as.
"""

from __future__ import annotations

import hashlib
import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

from .errors import ApplicationError
from .redis_client import get_redis

KEY_PREFIX = "anker:login-failures"


class LoginThrottledError(ApplicationError):
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed logins; try again in {retry_after} s.", extra={"retry_after": retry_after})
        self.retry_after = retry_after


@lru_cache(maxsize=8)
def _trusted(networks: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in networks)


def _is_trusted_proxy(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in _trusted(tuple(settings.TRUSTED_PROXIES)))


def client_address(request: HttpRequest) -> str:
    """The address a request is counted as (see the module's docstring)."""
    address = str(request.META.get("REMOTE_ADDR") or "unknown")
    if not _is_trusted_proxy(address):
        return address
    forwarded = [part.strip() for part in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    for hop in reversed(forwarded):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # a malformed entry: trust nothing left of it
        if not _is_trusted_proxy(hop):
            return hop
        address = hop
    return address


def _keys(*, address: str, username: str) -> tuple[str, str]:
    # Usernames are hashed: the key must not be a list of who was attacked, in plain text.
    user_hash = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return f"{KEY_PREFIX}:ip:{address}", f"{KEY_PREFIX}:user:{user_hash}"


def login_throttle_check(*, address: str, username: str) -> None:
    """Raise LoginThrottledError when the address or the username is out of attempts."""
    ip_key, user_key = _keys(address=address, username=username)
    redis = get_redis()
    with redis.pipeline() as pipe:
        pipe.get(ip_key)
        pipe.ttl(ip_key)
        pipe.get(user_key)
        pipe.ttl(user_key)
        ip_count, ip_ttl, user_count, user_ttl = pipe.execute()
    waits = []
    if ip_count is not None and int(ip_count) >= settings.LOGIN_MAX_FAILURES_PER_IP:
        waits.append(int(ip_ttl))
    if user_count is not None and int(user_count) >= settings.LOGIN_MAX_FAILURES_PER_USERNAME:
        waits.append(int(user_ttl))
    if waits:
        raise LoginThrottledError(max(1, *waits))


def login_failure_record(*, address: str, username: str) -> None:
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    redis = get_redis()
    with redis.pipeline() as pipe:
        for key in _keys(address=address, username=username):
            pipe.incr(key)
            pipe.expire(key, window, nx=True)
        pipe.execute()


def login_success_record(*, username: str) -> None:
    get_redis().delete(_keys(address="", username=username)[1])
