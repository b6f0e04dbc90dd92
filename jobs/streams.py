"""`GET /jobs/{id}/events`: a job's events as Server-Sent Events, and what a disconnect does.

The stream is the job's session's events (`sessions.streams`: replay after the client's last
seq — `Last-Event-ID` or `?after=` — then live, each seq once), and it ends when the job ends
or waits for a reply. With `on_disconnect=cancel` a client that goes away before then cancels
the job (as `POST /jobs/{id}/cancel` would); with `continue` (the default) the job runs on and
the client resumes the stream with `Last-Event-ID`.

An async view: no thread is held while it streams; the job is read in short trips through
`database_sync_to_async`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from channels.db import database_sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from anker_project.errors import ApplicationError, ConflictError
from sessions import eventlog
from sessions.events import TERMINAL_TYPES
from sessions.streams import MAX_SEQ, SSE_HEARTBEAT_FRAME, parse_seq, session_events, sse_frame

from .apis import JobApi
from .models import JobApiKey
from .selectors import job_get
from .services import job_cancel
from .waiting import SETTLED, _authenticate, _envelope

logger = logging.getLogger(__name__)

ON_DISCONNECT = ("continue", "cancel")


class EventsParams(serializers.Serializer):
    on_disconnect = serializers.ChoiceField(
        choices=ON_DISCONNECT,
        default="continue",
        help_text="What a client that disconnects before the job ends does to it: continue (default) or cancel.",
    )
    after = serializers.CharField(
        required=False, help_text="The last seq the client has (instead of the Last-Event-ID header)"
    )

    def validate_after(self, value: str) -> int:
        try:
            return parse_seq(value)
        except ValueError:
            raise serializers.ValidationError(f"must be the seq of an event (a number up to {MAX_SEQ})") from None


def _job_state(*, user_id: int, api_key: JobApiKey, job_id: str) -> tuple[str | None, bool]:
    """The job's session and whether it has settled (ended, or waits for a reply)."""
    job = job_get(user_id=user_id, api_key=api_key, job_id=job_id)
    return job.session_id, job.status in SETTLED


def _cancel_if_live(*, user_id: int, api_key: JobApiKey, job_id: str) -> None:
    with contextlib.suppress(ConflictError):  # it ended meanwhile: nothing to cancel
        job_cancel(job_id=str(job_get(user_id=user_id, api_key=api_key, job_id=job_id).pk))


async def _stream(
    *, user_id: int, api_key: JobApiKey, job_id: str, session_id: str, after: int, cancel_on_disconnect: bool
) -> AsyncIterator[str]:
    state = database_sync_to_async(_job_state)
    finished = False
    try:
        yield "retry: 3000\n\n"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.SSE_MAX_SECONDS
        _, settled = await state(user_id=user_id, api_key=api_key, job_id=job_id)
        if settled:  # nothing more will come: what the client missed, then the end
            for stored in await asyncio.to_thread(eventlog.events_after, session_id, after):
                yield sse_frame(stored)
            finished = True
            return
        async for item in session_events(session_id, after, heartbeat_seconds=settings.SSE_HEARTBEAT_SECONDS):
            if isinstance(item, dict):
                yield sse_frame(item)
                if item["type"] in TERMINAL_TYPES:
                    _, settled = await state(user_id=user_id, api_key=api_key, job_id=job_id)
            else:
                yield SSE_HEARTBEAT_FRAME
                _, settled = await state(user_id=user_id, api_key=api_key, job_id=job_id)
            if settled or loop.time() > deadline:
                finished = True
                return
    finally:
        if cancel_on_disconnect and not finished:
            # The client went away before the job ended: end the job, even though this task is
            # being cancelled (shielded, so the cancel itself runs to its end).
            logger.info("job %s: events client disconnected with on_disconnect=cancel; cancelling", job_id)
            await asyncio.shield(
                database_sync_to_async(_cancel_if_live)(user_id=user_id, api_key=api_key, job_id=job_id)
            )


class JobEventsApi(JobApi):
    """Documentation only: the operation is served by the async `job_events_view`."""

    @extend_schema(
        summary="The job's events as Server-Sent Events, until it ends or waits for a reply",
        description=(
            "Replays the session's events after `Last-Event-ID` (or `after`), then follows live. "
            "`on_disconnect=cancel` cancels the job when the client disconnects before it ends."
        ),
        parameters=[
            EventsParams,
            OpenApiParameter("Last-Event-ID", str, OpenApiParameter.HEADER, required=False),
        ],
        responses={200: OpenApiResponse(OpenApiTypes.STR, description="text/event-stream")},
    )
    def get(self, request: Request, job_id: str) -> Response:  # pragma: no cover - served by job_events_view
        raise NotImplementedError


async def job_events_view(request: HttpRequest, job_id: str) -> HttpResponse | StreamingHttpResponse:
    if request.method != "GET":
        return _envelope(405, f'Method "{request.method}" not allowed.', status=405)
    try:
        user_id, key = await database_sync_to_async(_authenticate)(request)
    except exceptions.APIException as exc:
        return _envelope(401, str(exc.detail), status=401)
    query = request.GET.dict()
    header = request.headers.get("Last-Event-ID", "").strip()
    if header and "after" not in query:
        query["after"] = header
    params = EventsParams(data=query)
    if not params.is_valid():
        errors = "; ".join(f"{field}: {' '.join(str(m) for m in msgs)}" for field, msgs in params.errors.items())
        return _envelope(422, errors, {"errors": params.errors}, status=422)
    try:
        session_id, _ = await database_sync_to_async(_job_state)(user_id=user_id, api_key=key, job_id=job_id)
    except ApplicationError as exc:
        return _envelope(exc.status, exc.message, exc.extra, status=exc.status)
    if session_id is None:
        return _envelope(404, "Job not found", status=404)  # its session was deleted with it
    stream = _stream(
        user_id=user_id,
        api_key=key,
        job_id=job_id,
        session_id=session_id,
        after=params.validated_data.get("after", 0),
        cancel_on_disconnect=params.validated_data["on_disconnect"] == "cancel",
    )
    response = StreamingHttpResponse(stream, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


job_events_view.cls = JobEventsApi  # type: ignore[attr-defined]  # drf-spectacular documents it as this APIView
job_events_view.initkwargs = {}  # type: ignore[attr-defined]
