"""The jobs benchmark's baseline: a bare authenticated DRF view that inserts one row, served by the
same daphne, settings and middleware as the API (`DJANGO_SETTINGS_MODULE=bench.bare_settings`)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.contrib.sessions.models import Session as CookieSession
from django.urls import include, path
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class BareInsert(APIView):
    """Authenticated (the API's own authentication classes: the bench sends its API key), one
    INSERT, a small JSON answer."""

    def post(self, request: Request) -> Response:
        row = CookieSession.objects.create(
            session_key=secrets.token_hex(16), session_data="", expire_date=timezone.now() + timedelta(hours=1)
        )
        return Response({"code": 0, "msg": "success", "data": {"id": row.session_key}}, status=202)


urlpatterns = [
    path("bench/bare", BareInsert.as_view()),
    path("", include("anker_project.urls")),
]
