"""The sandbox manager (seed 000's `sandbox-manager`): a staff-only REST API over the sandboxes,
one class per operation.

`GET /api/v1/sandboxes` lists them, `POST /api/v1/sandboxes` starts one into the warm pool (on
the `sandboxes` queue: the answer does not wait for a container to boot), `DELETE
/api/v1/sandboxes/{id}` destroys one. For anyone who is not staff these URLs do not exist (404):
their existence is not advertised to tenants. Endpoints (URLs, tokens) are never shown.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from anker_project.envelope import ok
from anker_project.errors import ConflictError, NotFoundError

from .models import LIVE_STATUSES, Sandbox, SandboxStatus
from .services import sandbox_destroy


class IsStaffElseNotFound(permissions.BasePermission):
    """Staff only; anyone else gets the 404 an unknown URL gets."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active and user.is_staff):
            raise NotFound("Not found.")
        return True


class SandboxSerializer(serializers.Serializer):
    sandbox_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=SandboxStatus.choices)
    backend = serializers.CharField()
    session_id = serializers.CharField(allow_null=True)
    owner = serializers.CharField(allow_null=True, help_text="Username of the session's owner; null in the pool.")
    age_seconds = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    ready_at = serializers.DateTimeField(allow_null=True)
    lease_expires_at = serializers.DateTimeField(allow_null=True)
    isolation = serializers.CharField()
    error = serializers.CharField(allow_null=True)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def sandbox_view(sandbox: Sandbox) -> dict[str, Any]:
    """A sandbox as staff see it (never its endpoint or token), rendered by SandboxSerializer."""
    session = sandbox.session
    return SandboxSerializer(
        {
            "sandbox_id": str(sandbox.id),
            "status": sandbox.status,
            "backend": sandbox.backend,
            "session_id": sandbox.session_id,
            "owner": session.owner.get_username() if session is not None else None,
            "age_seconds": int((timezone.now() - sandbox.created_at).total_seconds()),
            "created_at": _iso(sandbox.created_at),
            "ready_at": _iso(sandbox.ready_at),
            "lease_expires_at": _iso(sandbox.lease_expires_at),
            "isolation": sandbox.isolation,
            "error": sandbox.error or None,
        }
    ).data


def sandboxes_listed(*, status_filter: str | None) -> QuerySet[Sandbox]:
    sandboxes = Sandbox.objects.select_related("session__owner").order_by("-created_at")
    if status_filter == "live":
        return sandboxes.filter(status__in=LIVE_STATUSES)
    if status_filter:
        return sandboxes.filter(status=status_filter)
    return sandboxes


def _sandbox_of(sandbox_id: str) -> Sandbox:
    try:
        pk = uuid.UUID(str(sandbox_id))
    except ValueError:
        raise NotFoundError("Sandbox not found") from None
    sandbox = Sandbox.objects.select_related("session__owner").filter(pk=pk).first()
    if sandbox is None:
        raise NotFoundError("Sandbox not found")
    return sandbox


class SandboxListApi(APIView):
    permission_classes = [IsStaffElseNotFound]

    class Params(serializers.Serializer):
        status = serializers.ChoiceField(
            choices=[*SandboxStatus.values, "live"],
            required=False,
            help_text="One status, or `live` (provisioning, ready, in use, hibernating, hibernated, waking).",
        )
        limit = serializers.IntegerField(min_value=1, max_value=500, default=100)
        offset = serializers.IntegerField(min_value=0, default=0)

    class Output(serializers.Serializer):
        sandboxes = SandboxSerializer(many=True)
        count = serializers.IntegerField()
        limit = serializers.IntegerField()
        offset = serializers.IntegerField()

        class Meta:
            ref_name = "SandboxManagerListOutput"  # the schema's name before the split: clients keep it

    @extend_schema(
        summary="Staff: every sandbox, newest first (status, backend, session, owner, age, lease, isolation)",
        parameters=[Params],
        responses=Output,
    )
    def get(self, request: Request) -> Response:
        params = self.Params(data=request.query_params)
        params.is_valid(raise_exception=True)
        limit, offset = params.validated_data["limit"], params.validated_data["offset"]
        sandboxes = sandboxes_listed(status_filter=params.validated_data.get("status"))
        page = [sandbox_view(s) for s in sandboxes[offset : offset + limit]]
        return ok(self.Output({"sandboxes": page, "count": sandboxes.count(), "limit": limit, "offset": offset}).data)


class SandboxStartApi(APIView):
    permission_classes = [IsStaffElseNotFound]

    class Output(serializers.Serializer):
        queued = serializers.BooleanField()
        pool_target = serializers.IntegerField(help_text="SANDBOX_POOL_SIZE (the pool's standing size).")

        class Meta:
            ref_name = "SandboxManagerStartOutput"  # the schema's name before the split: clients keep it

    @extend_schema(
        summary="Staff: start one sandbox into the warm pool (202; it boots on the sandboxes queue)",
        request=None,
        responses={202: Output},
        examples=[OpenApiExample("Queued", value={"queued": True, "pool_target": 2}, response_only=True)],
    )
    def post(self, request: Request) -> Response:
        from .tasks import create_for_pool

        create_for_pool.apply_async(queue="sandboxes")
        body = self.Output({"queued": True, "pool_target": settings.SANDBOX_POOL_SIZE}).data
        return ok(body, http_status=status.HTTP_202_ACCEPTED)


class SandboxGetApi(APIView):
    permission_classes = [IsStaffElseNotFound]

    @extend_schema(summary="Staff: one sandbox", responses=SandboxSerializer)
    def get(self, request: Request, sandbox_id: str) -> Response:
        return ok(sandbox_view(_sandbox_of(sandbox_id)))


class SandboxDestroyApi(APIView):
    permission_classes = [IsStaffElseNotFound]

    @extend_schema(
        summary="Staff: destroy a live sandbox (409 when it is not live); its session gets a new one when needed",
        responses=SandboxSerializer,
    )
    def delete(self, request: Request, sandbox_id: str) -> Response:
        sandbox = _sandbox_of(sandbox_id)
        if not sandbox_destroy(sandbox_id=str(sandbox.pk)):
            raise ConflictError(f"The sandbox is not live ({sandbox.status})")
        sandbox.refresh_from_db()
        return ok(sandbox_view(sandbox))
