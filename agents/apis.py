"""Endpoints that start or end work, and the session detail (whose DELETE stops work): one class
per operation, routed per URL in anker_project/urls.py."""

import asyncio
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from anker_project.envelope import ok
from anker_project.principal import request_principal
from sessions import eventlog
from sessions.apis import SessionItemSerializer
from sessions.models import SessionMode
from sessions.selectors import session_get, session_history, session_list_item
from sessions.services import session_rename
from sessions.streams import HEARTBEAT, MAX_SEQ, SSE_HEARTBEAT_FRAME, parse_seq, session_events, sse_frame

from .hooks import turn_pending
from .llm import model_problem
from .models import ACTIVE_TURN_STATUSES, Turn
from .multitask import DEFAULT_MULTITASK_STRATEGY, MultitaskStrategy
from .services import (
    MAX_MESSAGE_CHARS,
    chat_send,
    session_create_with_message,
    session_delete_with_work,
    turn_retry,
    turn_stop,
)

TOO_LONG = f"The message is longer than {MAX_MESSAGE_CHARS:,} characters. Shorten it, or attach the text as a file."


class SessionCreateApi(APIView):
    """The seed's `PUT /sessions`, which may also carry the first message: the message is checked
    before anything is created, so a refused one leaves no empty session behind."""

    class Input(serializers.Serializer):
        mode = serializers.ChoiceField(choices=SessionMode.values, required=False, default=SessionMode.AGENT)
        message = serializers.CharField(
            required=False,
            allow_blank=True,
            default="",
            trim_whitespace=False,
            max_length=MAX_MESSAGE_CHARS,
            error_messages={"max_length": TOO_LONG},
            help_text="Optional first message: the session is created with its turn queued.",
        )
        attachments = serializers.ListField(
            child=serializers.CharField(max_length=64), required=False, default=list, max_length=20
        )
        model = serializers.CharField(
            max_length=200,
            required=False,
            allow_blank=True,
            default="",
            help_text="A model from GET /models (LLM_MODELS); empty = the default model",
        )

        class Meta:
            ref_name = "SessionCollectionCreateInput"  # the schema's name before the split: clients keep it

    class Output(serializers.Serializer):
        session_id = serializers.CharField()

        class Meta:
            ref_name = "SessionCreated"

    @extend_schema(summary="Create a session (optionally with its first message)", request=Input, responses=Output)
    def put(self, request: Request) -> Response:
        principal = request_principal(request)
        principal.forbid_api_key("create a session")
        data = request.data if isinstance(request.data, dict) else {}
        serializer = self.Input(data=data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        session = session_create_with_message(
            owner_id=principal.user_id,
            mode=values["mode"],
            message=values["message"],
            attachments=values["attachments"],
            model=values["model"],
        )
        return ok(self.Output({"session_id": session.id}).data)


class ClientConfigApi(APIView):
    class Output(serializers.Serializer):
        max_message_chars = serializers.IntegerField()
        max_upload_bytes = serializers.IntegerField()
        model_problem = serializers.CharField(
            allow_null=True, help_text="Staff only: why no model answers (null when one is configured)."
        )

    @extend_schema(summary="Limits the web app checks before sending", responses=Output)
    def get(self, request: Request) -> Response:
        staff = request.user.is_staff and not request_principal(request).is_api_key
        problem = model_problem() if staff else None
        return ok(
            self.Output(
                {
                    "max_message_chars": MAX_MESSAGE_CHARS,
                    "max_upload_bytes": settings.FILE_UPLOAD_MAX_BYTES,
                    "model_problem": problem,
                }
            ).data
        )


class SessionGetApi(APIView):
    class Output(serializers.Serializer):
        session_id = serializers.CharField()
        title = serializers.CharField()
        status = serializers.CharField()
        mode = serializers.CharField()
        origin = serializers.CharField(help_text="chat, or job: the session of a job of one of your API keys")
        events = serializers.ListField(child=serializers.DictField())

        class Meta:
            ref_name = "SessionDetail"

    @extend_schema(summary="Get a session with its history", responses=Output)
    def get(self, request: Request, session_id: str) -> Response:
        # Reading writes nothing: marking read is `POST /sessions/{id}/read` (or watching the WebSocket).
        session = session_get(principal=request_principal(request), session_id=session_id)
        return ok(
            self.Output(
                {
                    "session_id": session.id,
                    "title": session.title,
                    "status": session.status,
                    "mode": session.mode,
                    "origin": session.origin,
                    "events": session_history(session_id=session.id),
                }
            ).data
        )


class SessionUpdateApi(APIView):
    class Input(serializers.Serializer):
        title = serializers.CharField(max_length=200)

        class Meta:
            ref_name = "SessionDetailRenameInput"  # the schema's name before the split: clients keep it

    @extend_schema(summary="Rename a session", request=Input, responses=SessionItemSerializer)
    def patch(self, request: Request, session_id: str) -> Response:
        session = session_get(principal=request_principal(request), session_id=session_id)
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        session = session_rename(session_id=session.id, title=serializer.validated_data["title"])
        return ok(SessionItemSerializer(session_list_item(session)).data)


class SessionDeleteApi(APIView):
    @extend_schema(summary="Delete a session, stopping its work", responses=OpenApiResponse(description="data: null"))
    def delete(self, request: Request, session_id: str) -> Response:
        session = session_get(principal=request_principal(request), session_id=session_id)
        session_delete_with_work(session_id=session.id)
        return ok(None)


class SessionStopApi(APIView):
    @extend_schema(
        summary="Stop the session's running work", request=None, responses=OpenApiResponse(description="data: null")
    )
    def post(self, request: Request, session_id: str) -> Response:
        session = session_get(principal=request_principal(request), session_id=session_id)
        turn_stop(session_id=session.id)
        return ok(None)


class SessionRetryApi(APIView):
    class Output(serializers.Serializer):
        turn_id = serializers.CharField()

        class Meta:
            ref_name = "TurnQueued"

    @extend_schema(
        summary="Run the last message again (after an error or a stop, or for another answer)",
        description=(
            "Queues a new turn for the session's last user message; its events stream like any turn's. "
            "The earlier answer or error stays in the history. 409 while a turn runs or the agent waits "
            "for a reply, or before any message."
        ),
        request=None,
        responses=Output,
    )
    def post(self, request: Request, session_id: str) -> Response:
        principal = request_principal(request)
        principal.forbid_api_key("retry a message")
        session = session_get(principal=principal, session_id=session_id)
        turn = turn_retry(session_id=session.id)
        return ok(self.Output({"turn_id": str(turn.id)}).data)


# How often a follower of a session whose job has not started yet looks for its turn.
PENDING_TURN_POLL_SECONDS = 0.25


def _active_turn(session_id: str) -> Turn | None:
    """The session's newest queued or running turn, if any."""
    return Turn.objects.filter(session_id=session_id, status__in=ACTIVE_TURN_STATUSES).order_by("-created_at").first()


@sync_to_async
def _turn_to_follow(session_id: str) -> tuple[str | None, bool]:
    """The running turn to follow, and whether one is still about to start (a queued job)."""
    active = _active_turn(session_id)
    if active is not None:
        return str(active.id), False
    return None, turn_pending(session_id=session_id)


async def _sse_stream(session_id: str, after: int, until_turn: str | None, pending: bool = False) -> AsyncIterator[str]:
    yield "retry: 3000\n\n"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.SSE_MAX_SECONDS
    beat = loop.time() + settings.SSE_HEARTBEAT_SECONDS
    while until_turn is None and pending and loop.time() < deadline:
        # A job the jobs worker has not started yet: wait for its turn (or for it to go away).
        await asyncio.sleep(PENDING_TURN_POLL_SECONDS)
        until_turn, pending = await _turn_to_follow(session_id)
        if loop.time() >= beat:
            beat = loop.time() + settings.SSE_HEARTBEAT_SECONDS
            yield SSE_HEARTBEAT_FRAME
    if until_turn is None:
        # Nothing is running: replay what the client missed, then end.
        for event in await asyncio.to_thread(eventlog.events_after, session_id, after):
            yield sse_frame(event)
        return
    async for item in session_events(
        session_id, after, until_turn=until_turn, heartbeat_seconds=settings.SSE_HEARTBEAT_SECONDS
    ):
        yield SSE_HEARTBEAT_FRAME if item is HEARTBEAT else sse_frame(item)  # type: ignore[arg-type]
        if loop.time() > deadline:
            return


def _wants_json_only(request: Request) -> bool:
    """True when the client accepts nothing but JSON (`Accept: application/json`): it reads the
    events elsewhere (the WebSocket) and wants only to know the turn was accepted. Any other
    Accept — none, `*/*`, `text/event-stream`, a list with other types — keeps the seed's stream."""
    accept = request.headers.get("Accept", "")
    types = {part.split(";", 1)[0].strip().lower() for part in accept.split(",") if part.strip()}
    return types == {"application/json"}


class TurnAcceptedSerializer(serializers.Serializer):
    # The JSON answer to a chat message (`Accept: application/json`).
    turn_id = serializers.CharField(allow_null=True)
    status = serializers.CharField(allow_null=True, help_text="queued while it waits behind another")

    class Meta:
        ref_name = "TurnAccepted"


class SessionChatApi(APIView):
    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[JSONRenderer, str]:
        # SSE clients send `Accept: text/event-stream`; the stream itself is not rendered by
        # DRF, and errors before it starts are always the JSON envelope.
        return JSONRenderer(), JSONRenderer.media_type

    class Input(serializers.Serializer):
        message = serializers.CharField(
            required=False,
            allow_blank=True,
            default="",
            trim_whitespace=False,
            max_length=MAX_MESSAGE_CHARS,
            error_messages={"max_length": TOO_LONG},
        )
        timestamp = serializers.IntegerField(required=False, allow_null=True)
        event_id = serializers.RegexField(
            r"^[0-9]{0,19}$",
            required=False,
            allow_blank=True,
            allow_null=True,
            error_messages={"invalid": f"event_id must be the seq of an event (a number up to {MAX_SEQ})"},
        )
        attachments = serializers.ListField(
            child=serializers.CharField(max_length=64), required=False, default=list, max_length=20
        )
        multitask_strategy = serializers.ChoiceField(
            choices=MultitaskStrategy.choices,
            default=DEFAULT_MULTITASK_STRATEGY,
            help_text=(
                "When the session is still answering: interrupt (default) stops that turn at its next safe "
                "point; reject answers 409 and changes nothing; enqueue runs this message after it, in order; "
                "rollback stops that turn and discards its events and agent memory (not its files)."
            ),
        )

        def validate_event_id(self, value: str | None) -> int | None:
            if value in (None, ""):
                return None
            try:
                return parse_seq(value)
            except ValueError:
                raise serializers.ValidationError(
                    f"event_id must be the seq of an event (a number up to {MAX_SEQ})"
                ) from None

    @extend_schema(
        summary="Send a message; the response streams the turn's events (text/event-stream)",
        description=(
            "The response is an SSE stream of the session's events until the turn ends. A client that "
            "follows the session elsewhere (the WebSocket) sends `Accept: application/json` alone and gets "
            "the envelope `{turn_id, status}` at once instead (turn_id null for a resume with no running turn)."
        ),
        request=Input,
        examples=[
            OpenApiExample(
                "Run after the current answer",
                value={"message": "Then translate it to German.", "multitask_strategy": "enqueue"},
                request_only=True,
            )
        ],
        responses={
            (200, "text/event-stream"): OpenApiTypes.STR,
            (200, "application/json"): TurnAcceptedSerializer,
        },
    )
    def post(self, request: Request, session_id: str) -> StreamingHttpResponse | Response:
        principal = request_principal(request)
        session = session_get(principal=principal, session_id=session_id)
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data["message"] or data["attachments"]:
            # A key follows its jobs' streams here (an empty message), never starts a turn.
            principal.forbid_api_key("send a chat message")
        after = data.get("event_id")
        if after is None:
            header = request.headers.get("Last-Event-ID", "").strip()
            try:
                after = parse_seq(header) if header else None
            except ValueError:
                raise serializers.ValidationError(
                    {"Last-Event-ID": f"must be the seq of an event (a number up to {MAX_SEQ})"}
                ) from None
        turn = chat_send(
            session_id=session.id,
            message=data["message"],
            attachments=data["attachments"],
            multitask_strategy=data["multitask_strategy"],
        )
        accepted: Turn | None = turn
        if turn is not None:
            until: str | None = str(turn.id)
            start = after if after is not None else turn.message_seq
            pending = False
        else:
            if after is None:
                raise serializers.ValidationError({"message": "Send a message, or an event_id to resume the stream."})
            active = _active_turn(session.id)
            until, start, accepted = (str(active.id) if active else None), after, active
            pending = active is None and turn_pending(session_id=session.id)
        if _wants_json_only(request):
            return _turn_accepted(accepted)
        response = StreamingHttpResponse(
            _sse_stream(session.id, start, until, pending), content_type="text/event-stream"
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        if turn is not None:
            _turn_headers(response, turn)
        return response


def _turn_status(turn: Turn) -> str:
    # Read again: the worker may have started it since (enqueued behind another, it stays `queued`).
    return str(Turn.objects.filter(pk=turn.pk).values_list("status", flat=True)[0])


def _turn_headers(response: StreamingHttpResponse | Response, turn: Turn) -> None:
    response["X-Anker-Turn-Id"] = str(turn.id)
    response["X-Anker-Turn-Status"] = _turn_status(turn)


def _turn_accepted(turn: Turn | None) -> Response:
    """The JSON answer to a chat message: which turn it started, and whether it waits its turn."""
    if turn is None:
        return ok(TurnAcceptedSerializer({"turn_id": None, "status": None}).data)
    status = _turn_status(turn)
    response = ok(TurnAcceptedSerializer({"turn_id": str(turn.id), "status": status}).data)
    response["X-Anker-Turn-Id"] = str(turn.id)
    response["X-Anker-Turn-Status"] = status
    return response
