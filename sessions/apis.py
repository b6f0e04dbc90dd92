"""Session collection endpoints of the seed's API (create and list), and marking a session read."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from anker_project.envelope import ok
from anker_project.principal import request_principal

from .models import SessionMode, SessionOrigin, SessionStatus
from .selectors import session_get, session_list, session_list_item
from .services import session_create, session_mark_read


class SessionItemSerializer(serializers.Serializer):
    session_id = serializers.CharField()
    title = serializers.CharField()
    latest_message = serializers.CharField()
    latest_message_at = serializers.IntegerField(allow_null=True, help_text="unix seconds")
    status = serializers.ChoiceField(choices=SessionStatus.values)
    unread_message_count = serializers.IntegerField()
    mode = serializers.ChoiceField(choices=SessionMode.values)
    origin = serializers.ChoiceField(
        choices=SessionOrigin.values, help_text="job: the session of a job submitted with one of your API keys"
    )


class SessionCollectionApi(APIView):
    class CreateInput(serializers.Serializer):
        mode = serializers.ChoiceField(choices=SessionMode.values, required=False, default=SessionMode.AGENT)

    @extend_schema(
        summary="List the caller's sessions",
        responses=inline_serializer("SessionList", {"sessions": SessionItemSerializer(many=True)}),
    )
    def get(self, request: Request) -> Response:
        items = [session_list_item(s) for s in session_list(principal=request_principal(request))]
        return ok({"sessions": items})

    @extend_schema(
        summary="Create a session",
        request=CreateInput,
        responses=inline_serializer("SessionCreated", {"session_id": serializers.CharField()}),
    )
    def put(self, request: Request) -> Response:
        principal = request_principal(request)
        principal.forbid_api_key("create a session")
        data = request.data if isinstance(request.data, dict) else {}
        serializer = self.CreateInput(data=data)
        serializer.is_valid(raise_exception=True)
        session = session_create(owner_id=principal.user_id, mode=serializer.validated_data["mode"])
        return ok({"session_id": session.id})


class SessionReadApi(APIView):
    """`POST /sessions/{id}/read`: the one HTTP call that clears the unread count (GETs never write).
    The session WebSocket does the same as its documented side effect: a watched session is read."""

    @extend_schema(
        summary="Mark a session read (its unread message count becomes 0)",
        request=None,
        responses=SessionItemSerializer,
    )
    def post(self, request: Request, session_id: str) -> Response:
        session = session_get(principal=request_principal(request), session_id=session_id)
        session_mark_read(session=session)
        return ok(session_list_item(session))
