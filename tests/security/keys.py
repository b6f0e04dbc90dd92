"""API keys for the security tests, and job sessions as the jobs API creates them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rest_framework.test import APIClient

from agents.jobs.models import JobApiKey
from sessions.events import MessageEvent
from sessions.publisher import event_publish
from sessions.services import session_create


@dataclass
class Key:
    obj: JobApiKey
    raw: str
    client: APIClient


def make_key(owner: Any, name: str, **limits: Any) -> Key:
    obj, raw = JobApiKey.objects.create_key(owner=owner, name=name, **limits)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return Key(obj, raw, client)


def job_session(key: Key) -> str:
    """A session of a job of `key`, holding its prompt."""
    session = session_create(owner_id=key.obj.owner_id, mode="lite", api_key_id=str(key.obj.pk))
    event_publish(session.id, MessageEvent(role="user", content="job prompt"))
    return session.id
