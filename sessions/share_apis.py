"""Share links: the owner's endpoints (create, list, revoke) and the public, read-only ones, one
class per operation.

The public endpoints (`/shared/{token}...`) authenticate nobody: they read no cookie, header or
key, so a signed-in viewer and a stranger get the same answer, and the token opens nothing but
them. Their answers are not cached (a revoked link must stop working at once).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from anker_project.envelope import ok
from anker_project.errors import NotFoundError
from anker_project.login_limits import client_address
from anker_project.principal import request_principal

from .file_apis import content_disposition
from .files import file_stream
from .models import SessionMode, SessionStatus
from .shared_view import shared_file, shared_timeline
from .shares import (
    ShareThrottledError,
    share_create,
    share_item,
    share_list,
    share_path,
    share_read_throttle,
    share_resolve,
    share_revoke,
)

MAX_EXPIRES_IN_SECONDS = 365 * 24 * 3600
EXAMPLE_TOKEN = "q3JYk0mXw9b1Rr7vZc2T8eLhNfQpA6sUuGdK4iWoE5y"
EXAMPLE_ITEM = {
    "share_id": "4f1c2a9e7b3d5c60",
    "token_hint": EXAMPLE_TOKEN[:6],
    "created_at": 1764640800,
    "expires_at": 1765245600,
    "revoked_at": None,
    "active": True,
}
NOT_FOUND = OpenApiResponse(description="unknown, revoked or expired link (the same answer for each)")
TOKEN_PARAMETER = OpenApiParameter(
    "token",
    str,
    OpenApiParameter.PATH,
    required=True,
    pattern=r"^[A-Za-z0-9_-]{43}$",
    description="the link's token (the last part of /share/<token>)",
    examples=[OpenApiExample("A link's token", value=EXAMPLE_TOKEN)],
)
FILE_ID_PARAMETER = OpenApiParameter(
    "file_id",
    str,
    OpenApiParameter.PATH,
    required=True,
    pattern=r"^[0-9a-f]{24}$",
    description="a file id the shared timeline references",
    examples=[OpenApiExample("A screenshot", value="6b0f7d773eb4d1773ebcb094")],
)


class ShareItemSerializer(serializers.Serializer):
    share_id = serializers.CharField()
    token_hint = serializers.CharField(help_text="the token's first characters (the token itself is shown once)")
    created_at = serializers.IntegerField(help_text="unix seconds")
    expires_at = serializers.IntegerField(allow_null=True, help_text="unix seconds; null = never")
    revoked_at = serializers.IntegerField(allow_null=True, help_text="unix seconds; null = not revoked")
    active = serializers.BooleanField(help_text="neither revoked nor expired")


class CreatedShareSerializer(ShareItemSerializer):
    token = serializers.CharField(help_text="shown only in this answer")
    path = serializers.CharField(help_text="the web app's page of the link: /share/<token>")
    url = serializers.CharField(help_text="`path` on PUBLIC_BASE_URL, else on the host this request was sent to")


class SessionShareCreateApi(APIView):
    """`POST /sessions/{id}/shares`: a user's own sessions; an API key's own jobs' sessions."""

    class Input(serializers.Serializer):
        expires_in_seconds = serializers.IntegerField(
            min_value=60,
            max_value=MAX_EXPIRES_IN_SECONDS,
            required=False,
            allow_null=True,
            default=None,
            help_text="the link stops working this many seconds from now; absent or null = never",
        )

        class Meta:
            ref_name = "SessionSharesShareCreateInput"  # the schema's name before the split: clients keep it

    @extend_schema(
        summary="Create a read-only share link to a session's timeline",
        request=Input,
        responses={201: CreatedShareSerializer},
        examples=[
            OpenApiExample("For a week", value={"expires_in_seconds": 604800}, request_only=True),
            OpenApiExample("Until revoked", value={}, request_only=True),
            OpenApiExample(
                "Created",
                value={
                    **EXAMPLE_ITEM,
                    "token": EXAMPLE_TOKEN,
                    "path": f"/share/{EXAMPLE_TOKEN}",
                    "url": f"https://anker.example.com/share/{EXAMPLE_TOKEN}",
                },
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request: Request, session_id: str) -> Response:
        serializer = self.Input(data=request.data if request.data is not None else {})
        serializer.is_valid(raise_exception=True)
        created = share_create(
            principal=request_principal(request),
            session_id=session_id,
            expires_in_seconds=serializer.validated_data["expires_in_seconds"],
        )
        path = share_path(created.token)
        body = {
            **share_item(created.link),
            "token": created.token,
            "path": path,
            "url": f"{settings.PUBLIC_BASE_URL}{path}"
            if settings.PUBLIC_BASE_URL
            else request.build_absolute_uri(path),
        }
        return ok(CreatedShareSerializer(body).data, http_status=status.HTTP_201_CREATED)


class SessionShareListApi(APIView):
    """`GET /sessions/{id}/shares`: a user's own sessions; an API key's own jobs' sessions."""

    class Output(serializers.Serializer):
        shares = ShareItemSerializer(many=True)

        class Meta:
            ref_name = "ShareList"

    @extend_schema(
        summary="A session's share links, newest first (revoked and expired ones too)",
        responses=Output,
        examples=[OpenApiExample("One link", value={"shares": [EXAMPLE_ITEM]}, response_only=True)],
    )
    def get(self, request: Request, session_id: str) -> Response:
        links = share_list(principal=request_principal(request), session_id=session_id)
        return ok(self.Output({"shares": [share_item(link) for link in links]}).data)


class SessionShareDetailApi(APIView):
    @extend_schema(
        summary="Revoke a share link (it stops working at once; revoking twice changes nothing)",
        request=None,
        responses=ShareItemSerializer,
        examples=[
            OpenApiExample(
                "Revoked", value={**EXAMPLE_ITEM, "revoked_at": 1764644400, "active": False}, response_only=True
            )
        ],
    )
    def delete(self, request: Request, session_id: str, share_id: str) -> Response:
        link = share_revoke(principal=request_principal(request), session_id=session_id, share_id=share_id)
        return ok(ShareItemSerializer(share_item(link)).data)


class ShareReadThrottle(BaseThrottle):
    """Anonymous reads per client address and minute (SHARE_READS_PER_MINUTE); 429 past it."""

    def __init__(self) -> None:
        self.retry_after: int | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        try:
            share_read_throttle(address=client_address(request))
        except ShareThrottledError as exc:
            self.retry_after = exc.retry_after
            return False
        return True

    def wait(self) -> float | None:
        return self.retry_after


class PublicShareApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [ShareReadThrottle]


class SharedSessionInfoSerializer(serializers.Serializer):
    title = serializers.CharField()
    mode = serializers.ChoiceField(choices=SessionMode.values)
    status = serializers.ChoiceField(choices=SessionStatus.values)
    created_at = serializers.IntegerField(help_text="unix seconds")


class SharedSessionSerializer(serializers.Serializer):
    session = SharedSessionInfoSerializer()
    expires_at = serializers.IntegerField(allow_null=True, help_text="unix seconds; null = never")
    events = serializers.ListField(
        child=serializers.DictField(),
        help_text="[{event, data}] in seq order, each with its recorded `timestamp`; file references "
        "point at /api/v1/shared/{token}/files/{file_id}, private files are left out",
    )


class SharedSessionApi(PublicShareApi):
    @extend_schema(
        summary="A shared session's timeline (no login: the link's token is the key)",
        auth=[],
        parameters=[TOKEN_PARAMETER],
        responses={200: SharedSessionSerializer, 404: NOT_FOUND},
        examples=[
            OpenApiExample(
                "A short lite chat",
                value={
                    "session": {"title": "Anchors", "mode": "lite", "status": "completed", "created_at": 1764640800},
                    "expires_at": None,
                    "events": [
                        {
                            "event": "message",
                            "data": {
                                "type": "message",
                                "event_id": "1",
                                "seq": 1,
                                "timestamp": 1764640801,
                                "turn_id": "6f0e2d1c-0b3a-4c55-9e7b-2a1f0d6c4e11",
                                "role": "user",
                                "content": "Write a haiku about anchors",
                                "attachments": [],
                                "cut_short": False,
                            },
                        },
                        {
                            "event": "message",
                            "data": {
                                "type": "message",
                                "event_id": "3",
                                "seq": 3,
                                "timestamp": 1764640804,
                                "turn_id": "6f0e2d1c-0b3a-4c55-9e7b-2a1f0d6c4e11",
                                "role": "assistant",
                                "content": "Iron hook below / the chain holds firm / the boat dreams",
                                "attachments": [],
                                "cut_short": False,
                            },
                        },
                    ],
                },
                response_only=True,
                status_codes=["200"],
            )
        ],
    )
    def get(self, request: Request, token: str) -> Response:
        link = share_resolve(token=token)
        response = ok(SharedSessionSerializer(shared_timeline(link=link, token=token)).data)
        response["Cache-Control"] = "no-store"
        return response


class SharedFileApi(PublicShareApi):
    @extend_schema(
        summary="A file the shared timeline shows (a screenshot, an attachment that is not private)",
        auth=[],
        parameters=[TOKEN_PARAMETER, FILE_ID_PARAMETER],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 404: NOT_FOUND},
    )
    def get(self, request: Request, token: str, file_id: str) -> StreamingHttpResponse:
        stored = shared_file(link=share_resolve(token=token), file_id=file_id)
        if stored is None:
            raise NotFoundError("File not found")
        response = StreamingHttpResponse(file_stream(stored), content_type=stored.content_type)
        response["Content-Length"] = str(stored.size)
        response["Content-Disposition"] = content_disposition(stored.filename)
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "no-store"
        return response
