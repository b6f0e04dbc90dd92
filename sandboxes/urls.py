"""Sandbox views under /api/v1/sessions/{id}/ (composed in anker_project/urls.py)."""

from django.urls import path

from .apis import SessionFileApi, SessionShellApi, SessionVncTicketApi

urlpatterns = [
    path("sessions/<str:session_id>/shell", SessionShellApi.as_view(), name="session-shell"),
    path("sessions/<str:session_id>/file", SessionFileApi.as_view(), name="session-file"),
    path("sessions/<str:session_id>/vnc/ticket", SessionVncTicketApi.as_view(), name="session-vnc-ticket"),
]
