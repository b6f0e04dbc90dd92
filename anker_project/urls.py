"""URLs. The seed's endpoints live under /api/v1; apps' views compose under /sessions/. A URL with
several methods routes each to its own view (`methods()`, anker_project/routing.py)."""

from django.conf import settings
from django.contrib import admin
from django.http import FileResponse, Http404, HttpRequest
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from agents.apis import (
    ClientConfigApi,
    SessionChatApi,
    SessionCreateApi,
    SessionDeleteApi,
    SessionGetApi,
    SessionRetryApi,
    SessionStopApi,
    SessionUpdateApi,
)
from agents.reach.urls import urlpatterns as reach_urlpatterns
from jobs.urls import urlpatterns as job_urlpatterns
from sandboxes.urls import urlpatterns as sandbox_urlpatterns
from sessions.apis import SessionListApi, SessionReadApi
from sessions.file_apis import FileDetailApi, FileDownloadApi, FileUploadApi, SessionFilesApi
from sessions.share_apis import (
    SessionShareCreateApi,
    SessionShareDetailApi,
    SessionShareListApi,
    SharedFileApi,
    SharedSessionApi,
)

from .admin_login import throttled_admin_login
from .auth_apis import LoginApi, LogoutApi, MeApi, RefreshApi
from .health import HealthApi
from .routing import methods

api_v1 = [
    path("auth/login", LoginApi.as_view(), name="auth-login"),
    path("auth/refresh", RefreshApi.as_view(), name="auth-refresh"),
    path("auth/me", MeApi.as_view(), name="auth-me"),
    path("auth/logout", LogoutApi.as_view(), name="auth-logout"),
    path("health", HealthApi.as_view(), name="health"),
    path("config", ClientConfigApi.as_view(), name="client-config"),
    path("sessions", methods(get=SessionListApi.as_view(), put=SessionCreateApi.as_view()), name="sessions"),
    *sandbox_urlpatterns,  # sessions/{id}/shell, /file, /vnc/ticket
    path(
        "sessions/<str:session_id>",
        methods(get=SessionGetApi.as_view(), patch=SessionUpdateApi.as_view(), delete=SessionDeleteApi.as_view()),
        name="session-detail",
    ),
    path("sessions/<str:session_id>/stop", SessionStopApi.as_view(), name="session-stop"),
    path("sessions/<str:session_id>/chat", SessionChatApi.as_view(), name="session-chat"),
    path("sessions/<str:session_id>/retry", SessionRetryApi.as_view(), name="session-retry"),
    path("sessions/<str:session_id>/read", SessionReadApi.as_view(), name="session-read"),
    path("sessions/<str:session_id>/files", SessionFilesApi.as_view(), name="session-files"),
    path(
        "sessions/<str:session_id>/shares",
        methods(get=SessionShareListApi.as_view(), post=SessionShareCreateApi.as_view()),
        name="session-shares",
    ),
    path(
        "sessions/<str:session_id>/shares/<str:share_id>", SessionShareDetailApi.as_view(), name="session-share-detail"
    ),
    path("shared/<str:token>", SharedSessionApi.as_view(), name="shared-session"),
    path("shared/<str:token>/files/<str:file_id>", SharedFileApi.as_view(), name="shared-file"),
    path("files", FileUploadApi.as_view(), name="files"),
    path("files/<str:file_id>", FileDetailApi.as_view(), name="file-detail"),
    path("files/<str:file_id>/download", FileDownloadApi.as_view(), name="file-download"),
    *job_urlpatterns,  # jobs, jobs/{id}, /cancel, /reply, usage
    *reach_urlpatterns,  # mcp-servers, tool-rules, secrets, sessions/{id}/secrets, /approvals/{call}
]


def spa_index(request: HttpRequest, route: str = "") -> FileResponse:
    """The web app's index.html for every client-side route; its assets come from WhiteNoise."""
    index = settings.FRONTEND_DIST / "index.html"
    if not index.exists():
        raise Http404("The web app is not built: run `make frontend` (make run does it for you).")
    return FileResponse(index.open("rb"), content_type="text/html")


admin.site.site_header = "Anker administration"
admin.site.site_title = "Anker admin"
admin.site.index_title = "Users, sessions, turns, sandboxes and jobs"

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs-seed"),  # seed 000's path
    path("admin/login/", throttled_admin_login, name="admin-login"),  # brute-force limits first
    path("admin/", admin.site.urls),
    path("", spa_index),
    re_path(r"^(?!api/|admin/|static/|docs$)(?P<route>.*)$", spa_index),
]

handler404 = "anker_project.envelope.handler404"
handler500 = "anker_project.envelope.handler500"
