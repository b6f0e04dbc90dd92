"""File endpoints: upload, owner-only download, marking a file private, and a session's files."""

from urllib.parse import quote

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from anker_project.envelope import ok
from anker_project.principal import request_principal

from .files import StoredFile, file_get_for, file_set_private, file_store, file_stream, files_of_session
from .selectors import session_get


class FileInfoSerializer(serializers.Serializer):
    file_id = serializers.CharField()
    filename = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    file_url = serializers.CharField()
    private = serializers.BooleanField(help_text="never shown through a share link")


def _info(stored: StoredFile) -> dict[str, object]:
    return FileInfoSerializer({**stored.info().model_dump(), "private": stored.private}).data


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback and the exact name per RFC 5987."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class FileUploadApi(APIView):
    parser_classes = [MultiPartParser]

    class Input(serializers.Serializer):
        file = serializers.FileField(allow_empty_file=True)
        session_id = serializers.CharField(required=False, allow_blank=True, default="")
        private = serializers.BooleanField(required=False, default=False, help_text="never shown through a share link")

    @extend_schema(summary="Upload a file (multipart field `file`)", request=Input, responses=FileInfoSerializer)
    def post(self, request: Request) -> Response:
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        session_id = data["session_id"] or None
        principal = request_principal(request)
        if session_id is not None:
            session_get(principal=principal, session_id=session_id)  # a foreign session is a 404
        upload = data["file"]
        stored = file_store(
            owner_id=principal.user_id,
            api_key_id=principal.api_key_id,
            filename=upload.name or "file",
            data=upload,
            session_id=session_id,
            content_type=upload.content_type if upload.content_type != "application/octet-stream" else None,
            private=data["private"],
        )
        return ok(_info(stored))


class FileDetailApi(APIView):
    class FilePrivateInput(serializers.Serializer):
        private = serializers.BooleanField(help_text="true: share links of its sessions leave it out")

    @extend_schema(
        summary="Mark a file you own private (share links leave it out) or not",
        request=FilePrivateInput,
        responses=FileInfoSerializer,
        examples=[
            OpenApiExample("Keep it out of share links", value={"private": True}, request_only=True),
            OpenApiExample(
                "Marked private",
                value={
                    "file_id": "6b0f7d773eb4d1773ebcb094",
                    "filename": "diary.txt",
                    "content_type": "text/plain",
                    "size": 1234,
                    "file_url": "/api/v1/files/6b0f7d773eb4d1773ebcb094/download",
                    "private": True,
                },
                response_only=True,
            ),
        ],
    )
    def patch(self, request: Request, file_id: str) -> Response:
        serializer = self.FilePrivateInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        stored = file_set_private(
            principal=request_principal(request), file_id=file_id, private=serializer.validated_data["private"]
        )
        return ok(_info(stored))


class FileDownloadApi(APIView):
    @extend_schema(
        summary="Download a file you own", responses={(200, "application/octet-stream"): OpenApiTypes.BINARY}
    )
    def get(self, request: Request, file_id: str) -> StreamingHttpResponse:
        stored = file_get_for(principal=request_principal(request), file_id=file_id)
        response = StreamingHttpResponse(file_stream(stored), content_type=stored.content_type)
        response["Content-Length"] = str(stored.size)
        response["Content-Disposition"] = content_disposition(stored.filename)
        response["X-Content-Type-Options"] = "nosniff"
        return response


class SessionFilesApi(APIView):
    class Output(serializers.Serializer):
        files = FileInfoSerializer(many=True)

        class Meta:
            ref_name = "SessionFiles"

    @extend_schema(summary="The files of a session (uploads, deliverables, screenshots)", responses=Output)
    def get(self, request: Request, session_id: str) -> Response:
        session = session_get(principal=request_principal(request), session_id=session_id)
        files = files_of_session(owner_id=session.owner_id, session_id=session.id)
        return ok(self.Output({"files": [_info(f) for f in files]}).data)
