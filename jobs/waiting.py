"""Join: wait for a job's end without holding a thread.

`GET /jobs/{id}/wait?timeout=60` and `POST /jobs` with `"wait": true` are async views. A
job's end is announced on a Redis channel (`services.job_ended_announce`, after the end
commits); the waiter subscribes first, then reads the job (so an end between the two is not
missed), then sleeps on the subscription — re-reading the job every few seconds as a safety
net against a lost announcement. No worker thread is held while it waits; the reads are
short trips through `database_sync_to_async`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import redis.asyncio as aioredis
from asgiref.sync import markcoroutinefunction, sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from anker_project.envelope import envelope_response
from anker_project.errors import ApplicationError
from anker_project.routing import MethodRouter

from .apis import JobApi, JobListApi, JobSerializer, JobSubmitApi, JobWait
from .auth import JobApiKeyAuthentication
from .models import ENDED_JOB_STATUSES, JobApiKey, JobStatus
from .selectors import job_get, job_view
from .services import job_ended_channel

SETTLED = (*ENDED_JOB_STATUSES, JobStatus.WAITING)
RECHECK_SECONDS = 5.0


# The ground's envelope; `jobs/streams.py` answers through this name too.
_envelope = envelope_response


def _view_if_settled(*, user_id: int, api_key: JobApiKey, job_id: str) -> tuple[bool, dict[str, Any]]:
    job = job_get(user_id=user_id, api_key=api_key, job_id=job_id)
    return job.status in SETTLED, job_view(job)


async def job_wait_for(*, user_id: int, api_key: JobApiKey, job_id: str, timeout: float) -> tuple[bool, dict[str, Any]]:
    """Wait until the job ends (or waits for a reply) or `timeout` passes; (settled, view)."""
    read = database_sync_to_async(_view_if_settled)
    deadline = time.monotonic() + timeout
    client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3)
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(job_ended_channel(job_id))
        settled, view = await read(user_id=user_id, api_key=api_key, job_id=job_id)
        while not settled:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await pubsub.get_message(ignore_subscribe_messages=True, timeout=min(left, RECHECK_SECONDS))
            settled, view = await read(user_id=user_id, api_key=api_key, job_id=job_id)
        return settled, view
    finally:
        with contextlib.suppress(Exception):
            await pubsub.aclose()
        with contextlib.suppress(Exception):
            await client.aclose()


def _authenticate(request: HttpRequest) -> tuple[int, JobApiKey]:
    drf_request = Request(request, authenticators=[JobApiKeyAuthentication()])
    if not isinstance(drf_request.auth, JobApiKey):
        raise exceptions.NotAuthenticated("The jobs API needs an API key: `Authorization: Api-Key <key>`.")
    return int(drf_request.user.pk or 0), drf_request.auth


class WaitParams(serializers.Serializer):
    timeout = serializers.IntegerField(
        min_value=0, max_value=settings.JOB_WAIT_MAX_SECONDS, default=min(60, settings.JOB_WAIT_MAX_SECONDS)
    )


class JobWaitApi(JobApi):
    """Documentation only: the operation is served by the async `job_wait_view`."""

    @extend_schema(
        summary="Wait (up to `timeout` s) until the job ends or waits for a reply, then answer the job",
        parameters=[
            OpenApiParameter(
                "timeout", int, OpenApiParameter.QUERY, description="Seconds, 0 to JOB_WAIT_MAX_SECONDS (default 60)"
            )
        ],
        responses=JobSerializer,
    )
    def get(self, request: Request, job_id: str) -> Response:  # pragma: no cover - served by job_wait_view
        raise NotImplementedError


async def job_wait_view(request: HttpRequest, job_id: str) -> HttpResponse:
    if request.method != "GET":
        return _envelope(405, f'Method "{request.method}" not allowed.', status=405)
    try:
        user_id, key = await database_sync_to_async(_authenticate)(request)
    except exceptions.APIException as exc:
        return _envelope(401, str(exc.detail), status=401)
    params = WaitParams(data=request.GET)
    if not params.is_valid():
        errors = "; ".join(f"{field}: {' '.join(str(m) for m in msgs)}" for field, msgs in params.errors.items())
        return _envelope(422, errors, {"errors": params.errors}, status=422)
    try:
        _, view = await job_wait_for(
            user_id=user_id, api_key=key, job_id=job_id, timeout=float(params.validated_data["timeout"])
        )
    except ApplicationError as exc:
        return _envelope(exc.status, exc.message, exc.extra, status=exc.status)
    return _envelope(0, "success", JobSerializer(view).data, status=200)


job_wait_view.cls = JobWaitApi  # type: ignore[attr-defined]  # drf-spectacular documents it as this APIView
job_wait_view.initkwargs = {}  # type: ignore[attr-defined]


class JobCollectionRouter(MethodRouter):
    """`/jobs`: GET lists (`JobListApi`), POST submits (`JobSubmitApi`), routed as
    `anker_project.routing.methods` routes them — but async: the DRF views run in one thread
    hop, and with `"wait": true` the answer waits here for the job's end (no thread held),
    then answers the job instead."""

    def __init__(self) -> None:
        super().__init__({"get": JobListApi.as_view(), "post": JobSubmitApi.as_view()})
        markcoroutinefunction(self)  # Django awaits this view instead of running it in a thread

    async def __call__(  # type: ignore[override]  # the async form of the router's call
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        response = await sync_to_async(super().__call__)(request, *args, **kwargs)
        wait: JobWait | None = getattr(response, "anker_wait", None)
        if wait is None:
            return response
        settled, view = await job_wait_for(
            user_id=wait.user_id, api_key=wait.api_key, job_id=wait.job_id, timeout=float(wait.timeout)
        )
        if not settled:
            return response
        return _envelope(0, "success", JobSerializer(view).data, status=200)


job_collection_view = JobCollectionRouter()
