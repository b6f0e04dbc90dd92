"""Webhook deliveries of a job's events: record, send, retry, redeliver."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..models import DeliveryStatus, Job, WebhookAttempt, WebhookDelivery
from ..selectors import job_view
from ..webhooks import webhook_post

logger = logging.getLogger(__name__)

DEFAULT_WEBHOOK_EVENTS = ("job.waiting", "job.succeeded", "job.failed", "job.cancelled")
TRUNCATED_NOTE = "\n\n[truncated by Anker: the full result is at GET /api/v1/jobs/{job_id}]"


def _webhook_body(job: Job, event: str) -> bytes:
    """The job's view as JSON, at most WEBHOOK_MAX_BODY_BYTES: a long result message is cut
    with a note saying where the full one is."""
    view = job_view(job)
    view["event"] = event
    body = json.dumps(view, separators=(",", ":")).encode()
    cap = settings.WEBHOOK_MAX_BODY_BYTES
    if len(body) > cap and view.get("result"):
        message: str = view["result"]["message"]
        note = TRUNCATED_NOTE.format(job_id=job.id)
        view["result"]["truncated"] = True
        keep = len(message)
        # JSON escaping makes bytes and characters differ: shrink until the body fits.
        while len(body) > cap and keep > 0:
            keep = max(0, keep - (len(body) - cap) - len(note) - 16)
            view["result"]["message"] = message[:keep] + note
            body = json.dumps(view, separators=(",", ":")).encode()
    return body


def _schedule_delivery(delivery_id: str, *, countdown: float) -> None:
    from ..tasks import webhook_deliver

    transaction.on_commit(
        lambda: webhook_deliver.apply_async(kwargs={"delivery_id": delivery_id}, countdown=countdown, queue="default")
    )


def webhook_enqueue(*, job: Job, event: str | None = None) -> WebhookDelivery | None:
    """Record a webhook of the job's current status (ended or waiting; or `event`, e.g.
    `job.started`) and send it soon — unless the job's key filters that event out."""
    event = event or f"job.{job.status}"
    if not job.webhook_url:
        return None
    wanted = job.api_key.webhook_events if job.api_key is not None else []
    # No filter: the events a job always announced (its end, and waiting for a reply);
    # `job.started` only to keys that ask for it, so existing receivers see nothing new.
    if event not in (wanted or DEFAULT_WEBHOOK_EVENTS):
        return None
    delivery = WebhookDelivery.objects.create(
        job=job, event=event, url=job.webhook_url, body=_webhook_body(job, event).decode()
    )
    _schedule_delivery(str(delivery.id), countdown=0)
    return delivery


def webhook_redeliver(*, delivery_id: str) -> WebhookDelivery:
    """Send a delivery's body again as a new delivery with a fresh retry schedule."""
    old = WebhookDelivery.objects.get(pk=delivery_id)
    delivery = WebhookDelivery.objects.create(job_id=old.job_id, event=old.event, url=old.url, body=old.body)
    _schedule_delivery(str(delivery.id), countdown=0)
    return delivery


def webhook_attempt(*, delivery_id: str) -> str:
    """Make the delivery's next attempt if it is due; record it; schedule the retry.

    Two workers never make the same attempt: the attempt is claimed by compare-and-set on
    `attempt_count`. Returns what happened: delivered, retry, gave_up, not_due.
    """
    now = timezone.now()
    delivery = WebhookDelivery.objects.select_related("job__api_key").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return "not_due"
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now + timedelta(seconds=1):
        return "not_due"
    number = delivery.attempt_count + 1
    lease = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS * 3 + 30)
    if not WebhookDelivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.PENDING, attempt_count=delivery.attempt_count
    ).update(attempt_count=number, next_attempt_at=lease):
        return "not_due"
    key = delivery.job.api_key
    if key is None:
        outcome_code, outcome_error, duration = None, "The job's API key was deleted: nothing to sign with.", 0
    else:
        outcome = webhook_post(
            url=delivery.url,
            body=delivery.body.encode(),
            secret=key.webhook_secret,
            message_id=f"msg_{delivery.pk.hex}",
        )
        outcome_code, outcome_error, duration = outcome.status_code, outcome.error, outcome.duration_ms
    WebhookAttempt.objects.create(
        delivery=delivery, number=number, status_code=outcome_code, error=outcome_error, duration_ms=duration
    )
    if outcome_code is not None and 200 <= outcome_code < 300:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.SUCCEEDED, delivered_at=timezone.now(), next_attempt_at=None
        )
        return "delivered"
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if number > len(schedule) or key is None:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED, next_attempt_at=None)
        return "gave_up"
    delay = float(schedule[number - 1])
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() + timedelta(seconds=delay))
    if delay <= settings.WEBHOOK_COUNTDOWN_MAX_SECONDS:
        _schedule_delivery(str(delivery.pk), countdown=delay)
    return "retry"
