"""The jobs API (`/api/v1/jobs`, API keys only) and the caller's usage (`/api/v1/usage`).

One class per operation: a view validates with its `Input` (or `Params`), calls one selector or
service with ids and plain values, and renders the body with its output serializer. A URL that
serves several methods routes them with `anker_project.routing.methods` (`jobs/urls.py`);
`/jobs` with `jobs.waiting.JobCollectionRouter`, the async one, because a POST with
`"wait": true` waits there for the job's end without holding a thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from agents.multitask import MultitaskStrategy
from agents.services import MAX_MESSAGE_CHARS
from anker_project.envelope import ok
from anker_project.principal import request_principal
from sessions.models import SessionMode

from .models import JobApiKey, JobStatus
from .selectors import job_get, job_links, job_list, job_view, usage_by_day
from .services import (
    BULK_CANCEL_STATUSES,
    PRIORITY_RANGE,
    JobRateLimitedError,
    job_approve,
    job_cancel,
    job_delete,
    job_rate_check,
    job_reply,
    job_submit,
    jobs_cancel_many,
)

MAX_TIMEOUT_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class JobWait:
    """What POST /jobs with `"wait": true` asks the async view in front of it to wait for."""

    job_id: str
    user_id: int
    api_key: JobApiKey
    timeout: int


def caller(request: Request) -> tuple[int, JobApiKey]:
    """The key's owner id and the key of a request HasJobApiKey admitted."""
    assert isinstance(request.auth, JobApiKey) and request.user.pk is not None
    return int(request.user.pk), request.auth


class HasJobApiKey(permissions.BasePermission):
    message = "The jobs API needs an API key: `Authorization: Api-Key <key>`."

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, JobApiKey)


class JobSubmitThrottle(BaseThrottle):
    """The key's submissions per minute (a fixed window in Redis); 429 with Retry-After past it."""

    def __init__(self) -> None:
        self.retry_after: int | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        if request.method != "POST" or not isinstance(request.auth, JobApiKey):
            return True
        try:
            job_rate_check(api_key=request.auth)
        except JobRateLimitedError as exc:
            self.retry_after = exc.retry_after
            return False
        return True

    def wait(self) -> float | None:
        return self.retry_after


class ResultFileSerializer(serializers.Serializer):
    file_id = serializers.CharField()
    filename = serializers.CharField()
    size = serializers.IntegerField()
    download_url = serializers.CharField()


class ResultSerializer(serializers.Serializer):
    message = serializers.CharField()
    files = ResultFileSerializer(many=True)


class UsageSerializer(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()


class JobSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    session_id = serializers.CharField()
    status = serializers.ChoiceField(choices=JobStatus.choices)
    mode = serializers.CharField()
    queue_position = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    cancel_requested_at = serializers.DateTimeField(
        allow_null=True, help_text="Set by POST /cancel; a running job ends `cancelled` at its next safe point."
    )
    result = ResultSerializer(allow_null=True)
    usage = UsageSerializer()
    error = serializers.CharField(allow_null=True)
    metadata = serializers.DictField()
    priority = serializers.IntegerField()
    approval = serializers.DictField(
        allow_null=True, help_text="A waiting job's tool call that needs approval: {tool_call_id, tool, args, reason}"
    )


class LinksSerializer(serializers.Serializer):
    self = serializers.CharField()
    events_ws = serializers.CharField()
    events_sse = serializers.CharField()
    cancel = serializers.CharField()
    reply = serializers.CharField()


class JobApi(APIView):
    permission_classes = [permissions.IsAuthenticated, HasJobApiKey]

    def job_of(self, request: Request, job_id: str) -> Any:
        user_id, key = caller(request)
        return job_get(user_id=user_id, api_key=key, job_id=job_id)


class JobSubmitApi(JobApi):
    """`POST /jobs`: the job and its session in one transaction, `queued`; a worker starts it."""

    throttle_classes = [JobSubmitThrottle]

    class Input(serializers.Serializer):
        prompt = serializers.CharField(max_length=MAX_MESSAGE_CHARS, trim_whitespace=False)
        mode = serializers.ChoiceField(choices=SessionMode.values, default=SessionMode.AGENT)
        attachments = serializers.ListField(
            child=serializers.CharField(max_length=64), required=False, default=list, max_length=20
        )
        webhook_url = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
        metadata = serializers.DictField(required=False, default=dict)
        priority = serializers.IntegerField(min_value=PRIORITY_RANGE[0], max_value=PRIORITY_RANGE[1], default=0)
        timeout_s = serializers.IntegerField(
            min_value=1, max_value=MAX_TIMEOUT_SECONDS, required=False, allow_null=True
        )
        mcp_servers = serializers.ListField(
            child=serializers.DictField(),
            required=False,
            default=list,
            max_length=8,
            help_text="MCP servers for this job",
        )
        tool_rules = serializers.DictField(
            child=serializers.CharField(max_length=10),
            required=False,
            default=dict,
            help_text="pattern -> allow|ask|block",
        )
        secrets = serializers.ListField(
            child=serializers.CharField(max_length=200), required=False, default=list, max_length=100,
            help_text="names of the owner's secrets the sandbox gets as environment variables",
        )  # fmt: skip
        model = serializers.CharField(
            max_length=200,
            required=False,
            allow_blank=True,
            default="",
            help_text="A model from GET /models (LLM_MODELS); empty = the default model",
        )
        after_seconds = serializers.IntegerField(
            min_value=0,
            max_value=settings.JOB_MAX_DELAY_SECONDS,
            required=False,
            allow_null=True,
            help_text="Start no earlier than this many seconds from now; the job is `scheduled` until then.",
        )
        session_id = serializers.CharField(
            max_length=64,
            required=False,
            help_text="Continue this session (one of this key's jobs'): the job's prompt is its next message.",
        )
        multitask_strategy = serializers.ChoiceField(
            choices=MultitaskStrategy.choices,
            required=False,
            help_text="With session_id, when another job on that session has not ended: reject (409, nothing "
            "created), interrupt (it is cancelled, its history kept), rollback (cancelled and its events and "
            "memory discarded) or enqueue (this job runs after it). Default: the key's default_multitask_strategy.",
        )
        wait = serializers.BooleanField(
            default=False,
            help_text="Answer only when the job ends (or waits for a reply) within `wait_timeout` seconds, "
            "with the job as GET /jobs/{id} shows it (200); past the timeout the answer is the usual 202.",
        )
        wait_timeout = serializers.IntegerField(
            min_value=1, max_value=settings.JOB_WAIT_MAX_SECONDS, default=min(60, settings.JOB_WAIT_MAX_SECONDS)
        )

        class Meta:
            ref_name = "JobCollectionInput"  # the schema's name before the split: clients keep it

    class Output(serializers.Serializer):
        job_id = serializers.UUIDField()
        session_id = serializers.CharField()
        status = serializers.ChoiceField(choices=JobStatus.choices)
        links = LinksSerializer()

        class Meta:
            ref_name = "JobCollectionSubmitOutput"

    @extend_schema(
        summary="Submit an agent job (202; an Idempotency-Key replay answers 200 with the same job)",
        request=Input,
        responses={202: Output, 200: Output},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)],
        examples=[
            OpenApiExample(
                "A new job", value={"prompt": "Summarise https://example.com", "mode": "lite"}, request_only=True
            ),
            OpenApiExample(
                "Continue a job's session",
                value={
                    "prompt": "Now in French.",
                    "session_id": "6f1c2d3e4b5a69788796a5b4c3d2e1f0",
                    "multitask_strategy": "enqueue",
                },
                request_only=True,
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job, created = job_submit(
            api_key=caller(request)[1],
            prompt=data["prompt"],
            mode=data["mode"],
            attachments=data["attachments"],
            webhook_url=data["webhook_url"],
            metadata=data["metadata"],
            priority=data["priority"],
            timeout_s=data.get("timeout_s"),
            idempotency_key=request.headers.get("Idempotency-Key", "").strip()[:200] or None,
            mcp_servers=data["mcp_servers"],
            tool_rules=data["tool_rules"],
            secrets=data["secrets"],
            after_seconds=data.get("after_seconds"),
            model=data["model"],
            session_id=data.get("session_id"),
            multitask_strategy=data.get("multitask_strategy"),
        )
        body = {"job_id": job.id, "session_id": job.session_id, "status": job.status, "links": job_links(job)}
        response = ok(self.Output(body).data, http_status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)
        if data["wait"]:
            # `jobs.waiting.job_collection_view` (the async view in front of this one) waits for
            # the job's end without holding a thread, then answers the job instead.
            user_id, key = caller(request)
            wait = JobWait(job_id=str(job.id), user_id=user_id, api_key=key, timeout=data["wait_timeout"])
            response.anker_wait = wait  # type: ignore[attr-defined]
        return response


class JobListApi(JobApi):
    """`GET /jobs`: the key's jobs, newest first, a page at a time."""

    class Params(serializers.Serializer):
        status = serializers.ChoiceField(choices=JobStatus.values, required=False)
        limit = serializers.IntegerField(min_value=1, max_value=100, default=20)
        offset = serializers.IntegerField(min_value=0, default=0)

    class Output(serializers.Serializer):
        jobs = JobSerializer(many=True)
        count = serializers.IntegerField()
        limit = serializers.IntegerField()
        offset = serializers.IntegerField()

        class Meta:
            ref_name = "JobCollectionListOutput"

    @extend_schema(summary="The key's jobs, newest first", parameters=[Params], responses=Output)
    def get(self, request: Request) -> Response:
        params = self.Params(data=request.query_params)
        params.is_valid(raise_exception=True)
        limit, offset = params.validated_data["limit"], params.validated_data["offset"]
        user_id, key = caller(request)
        jobs = job_list(user_id=user_id, api_key=key, status=params.validated_data.get("status"))
        page = [job_view(job) for job in jobs[offset : offset + limit]]
        return ok(self.Output({"jobs": page, "count": jobs.count(), "limit": limit, "offset": offset}).data)


class JobGetApi(JobApi):
    @extend_schema(summary="A job: status, queue position, result, usage", responses=JobSerializer)
    def get(self, request: Request, job_id: str) -> Response:
        return ok(JobSerializer(job_view(self.job_of(request, job_id))).data)


class JobDeleteApi(JobApi):
    @extend_schema(
        summary="Delete an ended job with its session, event log and files (409 while it has not ended)",
        responses={200: None},
    )
    def delete(self, request: Request, job_id: str) -> Response:
        job_delete(job_id=str(self.job_of(request, job_id).pk))
        return ok(None)


class JobBulkCancelApi(JobApi):
    class Input(serializers.Serializer):
        job_ids = serializers.ListField(child=serializers.UUIDField(), required=False, default=list, max_length=1000)
        status = serializers.ChoiceField(
            choices=list(BULK_CANCEL_STATUSES),
            required=False,
            help_text="Cancel every job of this key in this state: scheduled, queued (scheduled too), "
            "running (waiting too) or all.",
        )

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if not attrs.get("job_ids") and not attrs.get("status"):
                raise serializers.ValidationError("Name the jobs to cancel: job_ids, or a status filter.")
            return attrs

    class Output(serializers.Serializer):
        cancelled = JobSerializer(many=True)
        count = serializers.IntegerField()

    @extend_schema(
        operation_id="jobs_cancel_many",
        summary="Cancel many of the key's jobs: by id, or every job in a state",
        request=Input,
        responses=Output,
        examples=[
            OpenApiExample("By status", value={"status": "queued"}, request_only=True),
            OpenApiExample("By id", value={"job_ids": ["9b2f0c7e-1d3a-4c55-8e7b-2a1f0d6c4e11"]}, request_only=True),
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        jobs = jobs_cancel_many(
            api_key_id=str(caller(request)[1].pk),
            job_ids=[str(i) for i in data["job_ids"]],
            status=data.get("status"),
        )
        return ok(self.Output({"cancelled": [job_view(job) for job in jobs], "count": len(jobs)}).data)


class JobCancelApi(JobApi):
    @extend_schema(
        summary="Cancel a job (a running one ends when its turn stops)", request=None, responses=JobSerializer
    )
    def post(self, request: Request, job_id: str) -> Response:
        job = job_cancel(job_id=str(self.job_of(request, job_id).pk))
        return ok(JobSerializer(job_view(job)).data)


class JobReplyApi(JobApi):
    class Input(serializers.Serializer):
        message = serializers.CharField(max_length=MAX_MESSAGE_CHARS, trim_whitespace=False)

    @extend_schema(
        summary="Answer a job that waits for a reply (409 otherwise)", request=Input, responses=JobSerializer
    )
    def post(self, request: Request, job_id: str) -> Response:
        job = self.job_of(request, job_id)
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        replied = job_reply(job_id=str(job.pk), message=serializer.validated_data["message"])
        return ok(JobSerializer(job_view(replied)).data)


class JobApproveApi(JobApi):
    class Input(serializers.Serializer):
        approve = serializers.BooleanField()
        note = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")

    @extend_schema(
        summary="Approve or deny the tool call a waiting job asks approval for (409 otherwise)",
        request=Input,
        responses=JobSerializer,
    )
    def post(self, request: Request, job_id: str) -> Response:
        job = self.job_of(request, job_id)
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        decided = job_approve(job_id=str(job.pk), approve=data["approve"], note=data["note"])
        return ok(JobSerializer(job_view(decided)).data)


class UsageApi(APIView):
    class Params(serializers.Serializer):
        days = serializers.IntegerField(min_value=1, max_value=366, default=30)

    class DayOutput(serializers.Serializer):
        date = serializers.DateField()
        turns = serializers.IntegerField()
        jobs = serializers.IntegerField()
        prompt_tokens = serializers.IntegerField()
        completion_tokens = serializers.IntegerField()
        sandbox_minutes = serializers.FloatField()
        models = serializers.ListField(
            child=serializers.DictField(), help_text="per model: {model, turns, prompt_tokens, completion_tokens}"
        )

    class Output(serializers.Serializer):
        days = serializers.ListField(child=serializers.DictField())

    @extend_schema(summary="The caller's usage per UTC day, oldest first", parameters=[Params], responses=Output)
    def get(self, request: Request) -> Response:
        params = self.Params(data=request.query_params)
        params.is_valid(raise_exception=True)
        principal = request_principal(request)
        return ok(self.Output({"days": usage_by_day(principal=principal, days=params.validated_data["days"])}).data)
