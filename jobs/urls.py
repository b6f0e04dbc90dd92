"""The jobs app's URLs. One view class per operation; a URL that serves several methods routes
them with `anker_project.routing.methods` (`/jobs` with its async form, `JobCollectionRouter`)."""

from django.urls import path

from anker_project.routing import methods

from .apis import JobApproveApi, JobBulkCancelApi, JobCancelApi, JobDeleteApi, JobGetApi, JobReplyApi, UsageApi
from .schedule_apis import (
    ScheduleCreateApi,
    ScheduleDeleteApi,
    ScheduleGetApi,
    ScheduleListApi,
    ScheduleRunApi,
    ScheduleRunsApi,
    ScheduleUpdateApi,
)
from .streams import job_events_view
from .waiting import job_collection_view, job_wait_view

urlpatterns = [
    path("jobs", job_collection_view, name="jobs"),
    path("jobs/cancel", JobBulkCancelApi.as_view(), name="jobs-cancel"),
    path("jobs/<str:job_id>", methods(get=JobGetApi.as_view(), delete=JobDeleteApi.as_view()), name="job-detail"),
    path("jobs/<str:job_id>/wait", job_wait_view, name="job-wait"),
    path("jobs/<str:job_id>/events", job_events_view, name="job-events"),
    path("jobs/<str:job_id>/cancel", JobCancelApi.as_view(), name="job-cancel"),
    path("jobs/<str:job_id>/reply", JobReplyApi.as_view(), name="job-reply"),
    path("jobs/<str:job_id>/approve", JobApproveApi.as_view(), name="job-approve"),
    path("schedules", methods(get=ScheduleListApi.as_view(), post=ScheduleCreateApi.as_view()), name="schedules"),
    path(
        "schedules/<str:schedule_id>",
        methods(get=ScheduleGetApi.as_view(), patch=ScheduleUpdateApi.as_view(), delete=ScheduleDeleteApi.as_view()),
        name="schedule-detail",
    ),
    path("schedules/<str:schedule_id>/run", ScheduleRunApi.as_view(), name="schedule-run"),
    path("schedules/<str:schedule_id>/runs", ScheduleRunsApi.as_view(), name="schedule-runs"),
    path("usage", UsageApi.as_view(), name="usage"),
]
