"""File endpoints: upload, owner-only download, and a session's files."""

from urllib.parse import quote

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from anker_project.envelope import ok

from .files import StoredFile, file_chunks, file_store, files_of_session
from .selectors import session_get


class FileInfoSerializer(serializers.Serializer):
    file_id = serializers.CharField()
    filename = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    file_url = serializers.CharField()


def _info(stored: StoredFile) -> dict[str, object]:
    return stored.info().model_dump()


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback and the exact name per RFC 5987."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class FileUploadApi(APIView):
    parser_classes = [MultiPartParser]

    class Input(serializers.Serializer):
        file = serializers.FileField(allow_empty_file=True)
        session_id = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(summary="Upload a file (multipart field `file`)", request=Input, responses=FileInfoSerializer)
    def post(self, request: Request) -> Response:
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        session_id = data["session_id"] or None
        if session_id is not None:
            session_get(user=request.user, session_id=session_id)  # a foreign session is a 404
        assert request.user.pk is not None  # IsAuthenticated
        upload = data["file"]
        stored = file_store(
            owner_id=int(request.user.pk),
            filename=upload.name or "file",
            data=upload,
            session_id=session_id,
            content_type=upload.content_type if upload.content_type != "application/octet-stream" else None,
        )
        return ok(_info(stored))


class FileDownloadApi(APIView):
    @extend_schema(
        summary="Download a file you own", responses={(200, "application/octet-stream"): OpenApiTypes.BINARY}
    )
    def get(self, request: Request, file_id: str) -> StreamingHttpResponse:
        assert request.user.pk is not None
        stored, chunks = file_chunks(owner_id=int(request.user.pk), file_id=file_id)
        response = StreamingHttpResponse(chunks, content_type=stored.content_type)
        response["Content-Length"] = str(stored.size)
        response["Content-Disposition"] = content_disposition(stored.filename)
        response["X-Content-Type-Options"] = "nosniff"
        return response


class SessionFilesApi(APIView):
    @extend_schema(
        summary="The files of a session (uploads, deliverables, screenshots)",
        responses=inline_serializer("SessionFiles", {"files": FileInfoSerializer(many=True)}),
    )
    def get(self, request: Request, session_id: str) -> Response:
        session = session_get(user=request.user, session_id=session_id)
        return ok({"files": [_info(f) for f in files_of_session(owner_id=session.owner_id, session_id=session.id)]})
