"""Limits at the edge: request bodies, login attempts, proxies, outbound addresses, sandbox limits."""

import ipaddress

from django.core.exceptions import ImproperlyConfigured

from .env import env


def _networks(name: str) -> list[str]:
    values = [v.strip() for v in env.list(name, default=[]) if v.strip()]
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}: {value!r} is not an address or CIDR network") from exc
    return values


# Request bodies are refused with 413 at the ASGI edge, before Django reads them: JSON and other
# bodies past REQUEST_MAX_BYTES, multipart uploads past FILE_UPLOAD_MAX_BYTES plus this slack
# for the multipart framing and the other form fields.
REQUEST_MAX_BYTES = env.int("REQUEST_MAX_BYTES", default=1024 * 1024)
UPLOAD_ENVELOPE_BYTES = 64 * 1024

# Brute-force limits of POST /api/v1/auth/login and /admin/login/ (Redis counters, so every web
# process shares them): failed attempts per client address and per username within the window.
LOGIN_MAX_FAILURES_PER_IP = env.int("LOGIN_MAX_FAILURES_PER_IP", default=20)
LOGIN_MAX_FAILURES_PER_USERNAME = env.int("LOGIN_MAX_FAILURES_PER_USERNAME", default=5)
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=900)
# Share links (/api/v1/shared/...): anonymous reads per client address and minute (a replay
# fetches the timeline once and each screenshot it shows), and live links per session.
SHARE_READS_PER_MINUTE = env.int("SHARE_READS_PER_MINUTE", default=300)
SHARE_MAX_ACTIVE_PER_SESSION = env.int("SHARE_MAX_ACTIVE_PER_SESSION", default=20)
# Addresses (or CIDRs) of reverse proxies in front of Anker. Only a request that comes from one
# of them has its client taken from X-Forwarded-For (the rightmost address not itself a trusted
# proxy); otherwise the header is ignored, so a client cannot pick its own address.
TRUSTED_PROXIES = _networks("TRUSTED_PROXIES")

# Outbound requests made for someone (webhooks, a local sandbox's egress) reach only global
# addresses; these networks are reachable too (e.g. an internal webhook receiver, 10.20.0.0/16).
OUTBOUND_ALLOWED_NETWORKS = _networks("OUTBOUND_ALLOWED_NETWORKS")

# /api/v1/health asks the Celery workers at most this often (a broadcast ping is not free).
HEALTH_WORKER_CACHE_SECONDS = env.float("HEALTH_WORKER_CACHE_SECONDS", default=10.0)
