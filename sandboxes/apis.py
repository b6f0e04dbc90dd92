"""The seed's sandbox views (endpoints 7-9): a shell's console, a file's content, a VNC ticket."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from anker_project.envelope import ok
from anker_project.errors import ApplicationError, NotFoundError
from anker_project.principal import request_principal
from sessions.selectors import session_get

from .hibernation import sandbox_awake_for_session
from .selectors import NO_SANDBOX_MESSAGE, sandbox_tool_api_for
from .services import SandboxUnavailableError
from .tickets import vnc_ticket_issue
from .tool_api import ToolApiError

VIEW_TIMEOUT_SECONDS = 15.0


def _raise_for(exc: ToolApiError, not_found: str) -> None:
    """The tool API's refusal in the envelope's vocabulary."""
    if exc.status == 404:
        raise NotFoundError(not_found) from exc
    if exc.status == 0:
        raise SandboxUnavailableError("The session's sandbox is not answering") from exc
    error = ApplicationError(exc.message)
    error.status = exc.status if exc.status in (400, 403, 413, 422) else 502
    raise error from exc


class ConsoleRecordSerializer(serializers.Serializer):
    ps1 = serializers.CharField()
    command = serializers.CharField()
    output = serializers.CharField()


class SessionShellApi(APIView):
    class Input(serializers.Serializer):
        session_id = serializers.RegexField(r"^[A-Za-z0-9_.-]{1,64}$", help_text="the shell's id")

    class Output(serializers.Serializer):
        output = serializers.CharField()
        session_id = serializers.CharField()
        console = ConsoleRecordSerializer(many=True)

        class Meta:
            ref_name = "ShellView"

    @extend_schema(summary="View a shell of the session's sandbox", request=Input, responses=Output)
    def post(self, request: Request, session_id: str) -> Response:
        serializer = self.Input(data=request.data if isinstance(request.data, dict) else {})
        serializer.is_valid(raise_exception=True)
        shell_id = serializer.validated_data["session_id"]
        with sandbox_tool_api_for(
            principal=request_principal(request), session_id=session_id, timeout=VIEW_TIMEOUT_SECONDS
        ) as api:
            try:
                data = api.shell_view(id=shell_id)
            except ToolApiError as exc:
                _raise_for(exc, "Shell not found")
        return ok(
            self.Output(
                {"output": data.get("output", ""), "session_id": shell_id, "console": data.get("console", [])}
            ).data
        )


class SessionFileApi(APIView):
    class Input(serializers.Serializer):
        file = serializers.RegexField(r"^/", max_length=4096, help_text="an absolute path in the sandbox")

    class Output(serializers.Serializer):
        content = serializers.CharField()
        file = serializers.CharField()

        class Meta:
            ref_name = "FileView"

    @extend_schema(summary="Read a file of the session's sandbox", request=Input, responses=Output)
    def post(self, request: Request, session_id: str) -> Response:
        serializer = self.Input(data=request.data if isinstance(request.data, dict) else {})
        serializer.is_valid(raise_exception=True)
        path = serializer.validated_data["file"]
        principal = request_principal(request)
        session_get(principal=principal, session_id=session_id)  # a foreign session wakes nothing: 404
        sandbox_awake_for_session(session_id=session_id)  # a hibernated sandbox's files are still there
        with sandbox_tool_api_for(principal=principal, session_id=session_id, timeout=VIEW_TIMEOUT_SECONDS) as api:
            try:
                data = api.file_read(file=path)
            except ToolApiError as exc:
                _raise_for(exc, "File not found")
        return ok(self.Output({"content": data.get("content", ""), "file": path}).data)


class SessionVncTicketApi(APIView):
    class Input(serializers.Serializer):
        view_only = serializers.BooleanField(required=False, default=True)

    class Output(serializers.Serializer):
        ticket = serializers.CharField()
        expires_in = serializers.IntegerField()
        url = serializers.CharField()

        class Meta:
            ref_name = "VncTicket"

    @extend_schema(
        summary="A single-use ticket (60 s) to open the session's VNC WebSocket", request=Input, responses=Output
    )
    def post(self, request: Request, session_id: str) -> Response:
        serializer = self.Input(data=request.data if isinstance(request.data, dict) else {})
        serializer.is_valid(raise_exception=True)
        principal = request_principal(request)
        session_get(principal=principal, session_id=session_id)
        if sandbox_awake_for_session(session_id=session_id) is None:  # the live view wakes a hibernated one
            raise NotFoundError(NO_SANDBOX_MESSAGE)
        ticket = vnc_ticket_issue(
            principal=principal, session_id=session_id, view_only=serializer.validated_data["view_only"]
        )
        return ok(self.Output(ticket).data)
