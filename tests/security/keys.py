"""API keys for the security tests, and job sessions made through the jobs API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rest_framework.test import APIClient

from agents.services import turn_run
from jobs.models import Job, JobApiKey
from jobs.services import job_start


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


def job_session(key: Key, prompt: str = "job prompt") -> str:
    """The session of a new lite job of `key`, run to its end as a worker would (the scripted
    model answers whatever its test pushed, else its default)."""
    response = key.client.post("/api/v1/jobs", {"prompt": prompt, "mode": "lite"}, format="json")
    assert response.status_code == 202, response.json()
    # The request answers `queued`; the jobs worker starts it (its turn, its first events).
    assert job_start(job_id=response.json()["data"]["job_id"]) == "started"
    job = Job.objects.get(pk=response.json()["data"]["job_id"])
    assert job.turn_id is not None
    turn_run(turn_id=str(job.turn_id))
    return str(response.json()["data"]["session_id"])
