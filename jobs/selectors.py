"""Reads of jobs and usage, always scoped to the caller: another caller's job does not exist."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from agents.models import Turn
from agents.reach.approvals import approval_pending_of_session
from anker_project.errors import NotFoundError
from anker_project.principal import Principal
from sessions.files import file_url

from .models import Job, JobApiKey, JobStatus


def job_turn_pending(*, session_id: str) -> bool:
    """A job of this session waits for the jobs worker to start its turn (POST /jobs answered
    `queued`): a reader following the session's stream waits for that turn."""
    return Job.objects.filter(session_id=session_id, status=JobStatus.QUEUED).exists()


def _scoped(*, user_id: int, api_key: JobApiKey | None) -> QuerySet[Job]:
    jobs = Job.objects.filter(owner_id=user_id)
    # A key sees the jobs submitted with it; the owner's other keys are other systems.
    return jobs.filter(api_key=api_key) if api_key is not None else jobs


def job_list(*, user_id: int, api_key: JobApiKey | None, status: str | None = None) -> QuerySet[Job]:
    jobs = _scoped(user_id=user_id, api_key=api_key)
    if status:
        jobs = jobs.filter(status=status)
    return jobs.select_related("turn").order_by("-created_at", "-id")


def job_get(*, user_id: int, api_key: JobApiKey | None, job_id: str) -> Job:
    try:
        pk = uuid.UUID(str(job_id))
    except ValueError:  # "0" is no job of anyone's: not found, like a foreign one
        raise NotFoundError("Job not found") from None
    job = _scoped(user_id=user_id, api_key=api_key).select_related("turn").filter(pk=pk).first()
    if job is None:
        raise NotFoundError("Job not found")
    return job


def public_url(path: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}{path}"


def job_queue_position(job: Job) -> int | None:
    """1 = the next job of its key to start. None unless the job is queued."""
    if job.status != JobStatus.QUEUED:
        return None
    ahead = Job.objects.filter(api_key_id=job.api_key_id, status=JobStatus.QUEUED).filter(
        Q(priority__gt=job.priority) | Q(priority=job.priority, created_at__lt=job.created_at)
    )
    return ahead.count() + 1


def job_usage(job: Job) -> dict[str, int]:
    if job.session_id is None:
        return {"prompt_tokens": 0, "completion_tokens": 0}
    sums = Turn.objects.filter(session_id=job.session_id).aggregate(
        prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens")
    )
    return {"prompt_tokens": sums["prompt"] or 0, "completion_tokens": sums["completion"] or 0}


def job_links(job: Job) -> dict[str, str]:
    base = f"/api/v1/jobs/{job.id}"
    return {
        "self": public_url(base),
        "events_ws": public_url(f"/api/v1/ws/sessions/{job.session_id}"),
        # SSE: POST {"message": "", "event_id": "<last seq, 0 for all>"} to it.
        "events_sse": public_url(f"/api/v1/sessions/{job.session_id}/chat"),
        "cancel": public_url(f"{base}/cancel"),
        "reply": public_url(f"{base}/reply"),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def job_view(job: Job) -> dict[str, Any]:
    """The job as the API and its webhooks show it."""
    result = job.result
    if result is not None:
        result = {
            "message": result.get("message", ""),
            "files": [{**f, "download_url": public_url(file_url(f["file_id"]))} for f in result.get("files", [])],
        }
    return {
        "job_id": str(job.id),
        "session_id": job.session_id,
        "status": job.status,
        "mode": job.mode,
        "queue_position": job_queue_position(job),
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "cancel_requested_at": _iso(job.cancel_requested_at),
        "result": result,
        "usage": job_usage(job),
        "error": job.error or None,
        "metadata": job.metadata,
        "priority": job.priority,
        "approval": _approval(job),
    }


def _approval(job: Job) -> dict[str, Any] | None:
    """The tool call a waiting job asks approval for (`POST /jobs/{id}/approve`), else None."""
    if job.status != JobStatus.WAITING or job.session_id is None:
        return None
    pending = approval_pending_of_session(session_id=job.session_id)
    if pending is None:
        return None
    return {"tool_call_id": pending.tool_call_id, "tool": pending.tool, "args": pending.args, "reason": pending.reason}


def usage_by_day(*, principal: Principal, days: int) -> list[dict[str, Any]]:
    """Per UTC day of the last `days` (oldest first): turns, jobs, tokens and sandbox minutes.
    A user's usage counts all of their sessions; an API key's only its own jobs'."""
    user_id = principal.user_id
    sessions = Q(session__owner_id=user_id)
    jobs_of = Q(owner_id=user_id)
    if principal.api_key_id is not None:
        sessions &= Q(session__api_key_id=principal.api_key_id)
        jobs_of &= Q(api_key_id=principal.api_key_id)
    today = timezone.now().date()
    first = today - timedelta(days=days - 1)
    rows: dict[Any, dict[str, Any]] = {
        first + timedelta(days=i): {
            "date": (first + timedelta(days=i)).isoformat(),
            "turns": 0,
            "jobs": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "sandbox_minutes": 0.0,
            "models": [],
        }
        for i in range(days)
    }
    turns = (
        Turn.objects.filter(sessions, created_at__date__gte=first)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"), prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"))
    )
    for row in turns:
        if row["day"] in rows:
            rows[row["day"]].update(
                turns=row["n"], prompt_tokens=row["prompt"] or 0, completion_tokens=row["completion"] or 0
            )
    per_model = (
        Turn.objects.filter(sessions, created_at__date__gte=first)
        .annotate(day=TruncDate("created_at"))
        .values("day", "model")
        .annotate(n=Count("id"), prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"))
        .order_by("day", "model")
    )
    for row in per_model:
        if row["day"] not in rows:
            continue
        name = row["model"] or settings.MODEL_NAME  # turns from before the per-model ledger used the default
        models = rows[row["day"]]["models"]
        entry = next((m for m in models if m["model"] == name), None)
        if entry is None:
            entry = {"model": name, "turns": 0, "prompt_tokens": 0, "completion_tokens": 0}
            models.append(entry)
        entry["turns"] += row["n"]
        entry["prompt_tokens"] += row["prompt"] or 0
        entry["completion_tokens"] += row["completion"] or 0
    jobs = (
        Job.objects.filter(jobs_of, created_at__date__gte=first)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
    )
    for job_row in jobs:
        if job_row["day"] in rows:
            rows[job_row["day"]]["jobs"] = job_row["n"]
    for day, minutes in _sandbox_minutes(sessions=sessions, first=first).items():
        if day in rows:
            rows[day]["sandbox_minutes"] = round(minutes, 2)
    return list(rows.values())


def _sandbox_minutes(*, sessions: Q, first: Any) -> dict[Any, float]:
    """Minutes the sandboxes of the caller's sessions were held (claimed until stopped,
    or until now while live), counted on the day it was claimed."""
    from sandboxes.models import Sandbox

    now = timezone.now()
    out: dict[Any, float] = {}
    held = Sandbox.objects.filter(sessions).filter(
        Q(claimed_at__date__gte=first) | Q(claimed_at__isnull=True, created_at__date__gte=first)
    )
    for start, created, stopped in held.values_list("claimed_at", "created_at", "stopped_at"):
        begin = start or created
        minutes = max(0.0, ((stopped or now) - begin).total_seconds() / 60)
        day = begin.date()
        out[day] = out.get(day, 0.0) + minutes
    return out
