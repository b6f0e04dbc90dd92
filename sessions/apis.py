"""The seed's session list, and marking a session read (creating one is agents.apis.SessionCreateApi:
it may carry the first message)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from anker_project.envelope import ok
from anker_project.principal import request_principal

from .models import SessionMode, SessionOrigin, SessionStatus
from .selectors import session_get, session_list, session_list_item
from .services import session_mark_read


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


class SessionListApi(APIView):
    class Output(serializers.Serializer):
        sessions = SessionItemSerializer(many=True)

        class Meta:
            ref_name = "SessionList"

    @extend_schema(summary="List the caller's sessions", responses=Output)
    def get(self, request: Request) -> Response:
        items = [session_list_item(s) for s in session_list(principal=request_principal(request))]
        return ok(self.Output({"sessions": items}).data)


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
        session = session_mark_read(session_id=session.id)
        return ok(SessionItemSerializer(session_list_item(session)).data)
