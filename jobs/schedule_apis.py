"""The schedules API (`/api/v1/schedules`): an API key manages the schedules made with it; a
signed-in user (the web app) manages all of theirs. Each fire submits a job like POST /jobs.

One class per operation (`jobs/urls.py` routes a URL's methods with
`anker_project.routing.methods`); bodies are rendered by the output serializers."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.services import MAX_MESSAGE_CHARS
from anker_project.envelope import ok
from sessions.models import SessionMode

from .apis import MAX_TIMEOUT_SECONDS
from .models import JobApiKey, OverlapPolicy, Schedule, ScheduleRunOutcome
from .schedules import (
    ScheduleInvalidError,
    schedule_create,
    schedule_delete,
    schedule_fire,
    schedule_get,
    schedule_run_view,
    schedule_runs,
    schedule_update,
    schedule_view,
    schedules_of,
)
from .services import PRIORITY_RANGE
from .webhooks import webhook_target_check

EXAMPLE = {
    "name": "Morning digest",
    "cron": "0 7 * * MON-FRI",
    "timezone": "Europe/Berlin",
    "overlap_policy": "skip",
    "job": {"prompt": "Summarise yesterday's tickets in five bullets.", "mode": "agent"},
}


def _scope(request: Request) -> tuple[int, str | None]:
    assert request.user.pk is not None
    key = request.auth if isinstance(request.auth, JobApiKey) else None
    return int(request.user.pk), (str(key.pk) if key is not None else None)


class ScheduleJobSerializer(serializers.Serializer):
    prompt = serializers.CharField(max_length=MAX_MESSAGE_CHARS, trim_whitespace=False)
    mode = serializers.ChoiceField(choices=SessionMode.values, default=SessionMode.AGENT)
    webhook_url = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    metadata = serializers.DictField(required=False, default=dict)
    priority = serializers.IntegerField(min_value=PRIORITY_RANGE[0], max_value=PRIORITY_RANGE[1], default=0)
    timeout_s = serializers.IntegerField(min_value=1, max_value=MAX_TIMEOUT_SECONDS, required=False, allow_null=True)

    def validate_prompt(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("must not be empty")
        return value


class ScheduleSerializer(serializers.Serializer):
    schedule_id = serializers.UUIDField()
    name = serializers.CharField()
    cron = serializers.CharField()
    timezone = serializers.CharField()
    start_at = serializers.DateTimeField(allow_null=True)
    end_at = serializers.DateTimeField(allow_null=True)
    enabled = serializers.BooleanField()
    overlap_policy = serializers.ChoiceField(choices=OverlapPolicy.values)
    job = ScheduleJobSerializer()
    next_run_at = serializers.DateTimeField(allow_null=True, help_text="The next fire instant (UTC); null if none.")
    last_run_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ScheduleRunSerializer(serializers.Serializer):
    run_id = serializers.UUIDField()
    fire_at = serializers.DateTimeField()
    manual = serializers.BooleanField()
    outcome = serializers.ChoiceField(choices=ScheduleRunOutcome.choices)
    missed_count = serializers.IntegerField()
    error = serializers.CharField(allow_null=True)
    job_id = serializers.UUIDField(allow_null=True)
    job_status = serializers.CharField(allow_null=True)
    session_id = serializers.CharField(allow_null=True, help_text="The session of the job this run started.")
    created_at = serializers.DateTimeField()


class ScheduleInput(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    cron = serializers.CharField(max_length=200, help_text="Five fields: minute hour day-of-month month weekday.")
    timezone = serializers.CharField(max_length=64, default="UTC", help_text="An IANA name, e.g. Europe/Berlin.")
    start_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    end_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    enabled = serializers.BooleanField(default=True)
    overlap_policy = serializers.ChoiceField(choices=OverlapPolicy.values, default=OverlapPolicy.SKIP)
    job = ScheduleJobSerializer()


def _checked_job(job: dict[str, Any] | None, *, api_key_id: str | None) -> None:
    """What POST /jobs would refuse, refused when the schedule is made rather than at each fire."""
    if job and len(json.dumps(job.get("metadata", {})).encode()) > settings.JOB_METADATA_MAX_BYTES:
        raise ScheduleInvalidError(f"job.metadata: larger than {settings.JOB_METADATA_MAX_BYTES} bytes")
    if not job or not job.get("webhook_url"):
        return
    if api_key_id is None:
        raise ScheduleInvalidError(
            "job.webhook_url: webhooks are signed with an API key's secret; make this schedule with an API key"
        )
    webhook_target_check(job["webhook_url"])


class ScheduleApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    def schedule_of(self, request: Request, schedule_id: str) -> Schedule:
        user_id, api_key_id = _scope(request)
        return schedule_get(user_id=user_id, api_key_id=api_key_id, schedule_id=schedule_id)


class ScheduleCreateApi(ScheduleApi):
    @extend_schema(
        summary="Create a schedule that submits a job at every fire time",
        request=ScheduleInput,
        responses={201: ScheduleSerializer},
        examples=[OpenApiExample("Weekday mornings in Berlin", value=EXAMPLE, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        serializer = ScheduleInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        user_id, api_key_id = _scope(request)
        _checked_job(serializer.validated_data["job"], api_key_id=api_key_id)
        schedule = schedule_create(owner_id=user_id, api_key_id=api_key_id, fields=dict(serializer.validated_data))
        return ok(ScheduleSerializer(schedule_view(schedule)).data, http_status=status.HTTP_201_CREATED)


class ScheduleListApi(ScheduleApi):
    class Output(serializers.Serializer):
        schedules = ScheduleSerializer(many=True)
        count = serializers.IntegerField()

        class Meta:
            ref_name = "ScheduleCollectionListOutput"  # the schema's name before the split: clients keep it

    @extend_schema(summary="The caller's schedules, newest first", responses=Output)
    def get(self, request: Request) -> Response:
        user_id, api_key_id = _scope(request)
        schedules = schedules_of(user_id=user_id, api_key_id=api_key_id).order_by("-created_at")[:1000]
        views = [schedule_view(s) for s in schedules]
        return ok(self.Output({"schedules": views, "count": len(views)}).data)


class ScheduleGetApi(ScheduleApi):
    @extend_schema(summary="A schedule and its next fire time", responses=ScheduleSerializer)
    def get(self, request: Request, schedule_id: str) -> Response:
        return ok(ScheduleSerializer(schedule_view(self.schedule_of(request, schedule_id))).data)


class ScheduleUpdateApi(ScheduleApi):
    class Input(ScheduleInput):
        cron = serializers.CharField(max_length=200, required=False)
        timezone = serializers.CharField(max_length=64, required=False)
        enabled = serializers.BooleanField(required=False)
        overlap_policy = serializers.ChoiceField(choices=OverlapPolicy.values, required=False)
        job = ScheduleJobSerializer(required=False)
        name = serializers.CharField(max_length=200, required=False, allow_blank=True)
        start_at = serializers.DateTimeField(required=False, allow_null=True)
        end_at = serializers.DateTimeField(required=False, allow_null=True)

        class Meta:
            ref_name = "ScheduleDetailPatchInput"

    @extend_schema(
        summary="Change a schedule (any field; the next fire is planned again)",
        request=Input,
        responses=ScheduleSerializer,
        examples=[OpenApiExample("Pause", value={"enabled": False}, request_only=True)],
    )
    def patch(self, request: Request, schedule_id: str) -> Response:
        schedule = self.schedule_of(request, schedule_id)
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        _checked_job(serializer.validated_data.get("job"), api_key_id=_scope(request)[1])
        updated = schedule_update(schedule_id=str(schedule.pk), changes=dict(serializer.validated_data))
        return ok(ScheduleSerializer(schedule_view(updated)).data)


class ScheduleDeleteApi(ScheduleApi):
    @extend_schema(summary="Delete a schedule (the jobs it started stay)", responses={200: None})
    def delete(self, request: Request, schedule_id: str) -> Response:
        schedule_delete(schedule_id=str(self.schedule_of(request, schedule_id).pk))
        return ok(None)


class ScheduleRunApi(ScheduleApi):
    @extend_schema(
        summary="Fire a schedule now (its overlap policy applies); answers the run",
        request=None,
        responses={201: ScheduleRunSerializer},
    )
    def post(self, request: Request, schedule_id: str) -> Response:
        schedule = self.schedule_of(request, schedule_id)
        run = schedule_fire(schedule_id=str(schedule.pk), fire_at=timezone.now(), manual=True)
        assert run is not None  # manual runs are not unique per instant
        run.refresh_from_db()
        return ok(ScheduleRunSerializer(schedule_run_view(run)).data, http_status=status.HTTP_201_CREATED)


class ScheduleRunsApi(ScheduleApi):
    class Params(serializers.Serializer):
        limit = serializers.IntegerField(min_value=1, max_value=200, default=50)
        offset = serializers.IntegerField(min_value=0, default=0)

    class Output(serializers.Serializer):
        runs = ScheduleRunSerializer(many=True)
        count = serializers.IntegerField()

    @extend_schema(
        summary="A schedule's run history, newest first, with the job each run started",
        parameters=[Params],
        responses=Output,
    )
    def get(self, request: Request, schedule_id: str) -> Response:
        schedule = self.schedule_of(request, schedule_id)
        params = self.Params(data=request.query_params)
        params.is_valid(raise_exception=True)
        limit, offset = params.validated_data["limit"], params.validated_data["offset"]
        runs = schedule_runs(schedule_id=str(schedule.pk))
        page = [schedule_run_view(r) for r in runs[offset : offset + limit]]
        return ok(self.Output({"runs": page, "count": runs.count()}).data)
