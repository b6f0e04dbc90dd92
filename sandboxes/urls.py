"""Sandbox views under /api/v1/sessions/{id}/ (composed in anker_project/urls.py)."""

from django.urls import path

from anker_project.routing import methods

from .apis import SessionFileApi, SessionShellApi, SessionVncTicketApi
from .manager_apis import SandboxDestroyApi, SandboxGetApi, SandboxListApi, SandboxStartApi

urlpatterns = [
    path("sessions/<str:session_id>/shell", SessionShellApi.as_view(), name="session-shell"),
    path("sessions/<str:session_id>/file", SessionFileApi.as_view(), name="session-file"),
    path("sessions/<str:session_id>/vnc/ticket", SessionVncTicketApi.as_view(), name="session-vnc-ticket"),
    # The sandbox manager (staff only; a 404 for everyone else).
    path("sandboxes", methods(get=SandboxListApi.as_view(), post=SandboxStartApi.as_view()), name="sandboxes"),
    path(
        "sandboxes/<str:sandbox_id>",
        methods(get=SandboxGetApi.as_view(), delete=SandboxDestroyApi.as_view()),
        name="sandbox-detail",
    ),
]
