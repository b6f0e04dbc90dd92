from django.urls import path

from .apis import JobApproveApi, JobCancelApi, JobCollectionApi, JobDetailApi, JobReplyApi, UsageApi

urlpatterns = [
    path("jobs", JobCollectionApi.as_view(), name="jobs"),
    path("jobs/<str:job_id>", JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<str:job_id>/cancel", JobCancelApi.as_view(), name="job-cancel"),
    path("jobs/<str:job_id>/reply", JobReplyApi.as_view(), name="job-reply"),
    path("jobs/<str:job_id>/approve", JobApproveApi.as_view(), name="job-approve"),
    path("usage", UsageApi.as_view(), name="usage"),
]
