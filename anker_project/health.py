"""`GET /api/v1/health`: can Anker reach its database, Redis, Mongo and a worker?"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .redis_client import get_redis

WORKER_PING_SECONDS = 1.0


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis() -> None:
    get_redis().ping()


def _mongo() -> None:
    from sessions.mongo import get_db

    get_db().command("ping")


def _worker() -> None:
    from .celery import app

    if not app.control.ping(timeout=WORKER_PING_SECONDS):
        raise RuntimeError("no Celery worker answered")


CHECKS: dict[str, Callable[[], None]] = {"database": _database, "redis": _redis, "mongo": _mongo, "worker": _worker}


def _run(check: Callable[[], None]) -> str:
    try:
        check()
    except Exception as exc:  # every failure is reported, none is raised
        return f"error: {type(exc).__name__}: {exc}"[:300]
    return "ok"


class HealthApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(summary="Reachability of the database, Redis, Mongo and workers (503 if any is down)")
    def get(self, request: Request) -> Response:
        # The database check runs here: Django connections belong to their thread.
        results: dict[str, Any] = {"database": _run(_database)}
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = {name: pool.submit(_run, CHECKS[name]) for name in ("redis", "mongo", "worker")}
            results.update({name: future.result() for name, future in futures.items()})
        healthy = all(value == "ok" for value in results.values())
        body = {"code": 0 if healthy else 503, "msg": "success" if healthy else "unhealthy", "data": results}
        return Response(body, status=200 if healthy else 503)
