"""The only module that speaks webhook HTTP: target checks, signing and one signed POST.

Every delivery is signed twice:
- Standard Webhooks (https://www.standardwebhooks.com): `webhook-id` (the delivery id, the
  same on every retry so receivers can drop duplicates), `webhook-timestamp` (Unix seconds) and
  `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>">`, keyed by the
  base64-decoded part of the key's `whsec_...` secret — what the `standardwebhooks` libraries
  verify. Keys made before Anker signed this way have a secret in another format; their
  deliveries carry only the Anker signature (make a new key to get both).
- Anker's own, kept for existing receivers: `X-Anker-Signature: sha256=<hex>`, the HMAC-SHA256
  of `<X-Anker-Timestamp>.<raw body>` under the whole secret string.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings

from anker_project.errors import ApplicationError
from anker_project.net import AddressRefusedError, public_addresses

USER_AGENT = "Anker-Webhooks/1"


class WebhookTargetError(ApplicationError):
    """The URL may not receive webhooks (scheme, unresolvable, or a private address)."""

    status = 422


@dataclass(frozen=True)
class AttemptOutcome:
    status_code: int | None
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def webhook_target_check(url: str) -> list[str]:
    """The addresses `url` may be delivered to; raises WebhookTargetError if none.

    Called at submission and again before every attempt, so a name that later resolves to
    an internal address (DNS rebinding) is refused, and the POST goes to the address checked.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookTargetError("webhook_url must be an http or https URL with a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise WebhookTargetError(f"webhook_url has a bad port: {exc}") from exc
    try:
        return public_addresses(parts.hostname, port, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_TARGETS)
    except AddressRefusedError as exc:
        raise WebhookTargetError(f"webhook_url: {exc}") from exc


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def standard_signing_key(secret: str) -> bytes | None:
    """The key bytes of a `whsec_<base64>` secret; None for a secret in another format."""
    if not secret.startswith("whsec_"):
        return None
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        return None


def standard_webhook_headers(*, secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt; empty when the secret cannot sign them."""
    key = standard_signing_key(secret)
    if key is None:
        return {}
    signed = f"{message_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "webhook-signature": f"v1,{signature}"}


def _pinned(url: str, address: str) -> tuple[str, str, str]:
    """The URL with its host replaced by `address`, the Host header, and the TLS server name."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    host_header = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc)), host_header, host


def webhook_post(*, url: str, body: bytes, secret: str, message_id: str) -> AttemptOutcome:
    """One signed POST of `body` to `url`, with short timeouts and no redirects.

    `message_id` is the delivery's id (Standard Webhooks' `webhook-id`)."""
    started = time.monotonic()

    def outcome(status_code: int | None, error: str = "") -> AttemptOutcome:
        return AttemptOutcome(status_code, error[:2000], int((time.monotonic() - started) * 1000))

    try:
        addresses = webhook_target_check(url)
    except WebhookTargetError as exc:
        return outcome(None, exc.message)
    timestamp = int(time.time())
    target, host_header, server_name = _pinned(url, addresses[0])
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Host": host_header,
        "X-Anker-Timestamp": str(timestamp),
        "X-Anker-Signature": webhook_signature(secret, timestamp, body),
        **standard_webhook_headers(secret=secret, message_id=message_id, timestamp=timestamp, body=body),
    }
    timeout = httpx.Timeout(settings.WEBHOOK_TIMEOUT_SECONDS, connect=min(5.0, settings.WEBHOOK_TIMEOUT_SECONDS))
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            response = client.post(target, content=body, headers=headers, extensions={"sni_hostname": server_name})
    except httpx.TimeoutException as exc:
        return outcome(None, f"timeout: {type(exc).__name__}")
    except httpx.HTTPError as exc:
        return outcome(None, f"{type(exc).__name__}: {exc}")
    error = "" if 200 <= response.status_code < 300 else f"HTTP {response.status_code}: {response.text[:500]}"
    return outcome(response.status_code, error)
