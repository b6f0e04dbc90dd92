"""`GET /api/v1/health`: can Anker reach its database, Redis, Mongo and a worker?

Anyone may ask whether Anker is up (200 `{"status": "up"}`, or 503 `{"status": "down"}`); only
staff get the report per component, with the error of each that failed: error texts name
internal hosts and ports. Asking the workers is a broadcast over the broker, so its answer is
kept for HEALTH_WORKER_CACHE_SECONDS and shared by every caller of this process meanwhile.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .mongo import get_db
from .principal import principal_of
from .redis_client import get_redis

WORKER_PING_SECONDS = 1.0


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis() -> None:
    get_redis().ping()


def _mongo() -> None:
    get_db().command("ping")


def _ping_workers() -> None:
    from .celery import app

    if not app.control.ping(timeout=WORKER_PING_SECONDS):
        raise RuntimeError("no Celery worker answered")


def _run(check: Callable[[], None]) -> str:
    try:
        check()
    except Exception as exc:  # every failure is reported, none is raised
        return f"error: {type(exc).__name__}: {exc}"[:300]
    return "ok"


def _processes() -> dict[str, str] | None:
    """Under `make run`: each child's state as the runner last wrote it ("running", or
    "restarting"), with its restarts and last exit code. None when no runner supervises us."""
    path = os.environ.get("ANKER_PROCESS_STATUS_FILE")
    if not path:
        return None
    try:
        with open(path) as status:
            processes = json.load(status)["processes"]
    except (OSError, ValueError, KeyError) as exc:
        return {"runner": f"error: the process status file is unreadable ({type(exc).__name__})"}
    out = {}
    for name, info in processes.items():
        text = str(info.get("state"))
        if info.get("restarts") or info.get("last_exit_code") is not None:
            text += (
                f" (restarts: {info.get('restarts', 0)}; last exit code {info.get('last_exit_code')}"
                f" at {info.get('last_exit_at')})"
            )
        out[name] = text
    return out


class _CachedCheck:
    """One check's result, re-asked at most every `seconds`; concurrent callers wait for one answer."""

    def __init__(self, check: Callable[[], None]) -> None:
        self._check = check
        self._lock = threading.Lock()
        self._result = ""
        self._at = float("-inf")

    def __call__(self) -> str:
        with self._lock:
            if time.monotonic() - self._at >= settings.HEALTH_WORKER_CACHE_SECONDS:
                self._result = _run(self._check)
                self._at = time.monotonic()
            return self._result

    def forget(self) -> None:
        with self._lock:
            self._at = float("-inf")


worker_check = _CachedCheck(_ping_workers)

CHECKS: dict[str, Callable[[], str]] = {
    "redis": lambda: _run(_redis),
    "mongo": lambda: _run(_mongo),
    "worker": worker_check,
}


def health_report() -> dict[str, str]:
    # The database check runs here: Django connections belong to their thread.
    results: dict[str, str] = {"database": _run(_database)}
    with ThreadPoolExecutor(max_workers=len(CHECKS)) as pool:
        futures = {name: pool.submit(check) for name, check in CHECKS.items()}
        results.update({name: future.result() for name, future in futures.items()})
    return results


class HealthApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Is Anker up? (503 if a component is down, or under `make run` a process is being "
        "restarted; staff get the report per component and process)",
        responses=inline_serializer("Health", {"status": serializers.ChoiceField(choices=["up", "down"])}),
    )
    def get(self, request: Request) -> Response:
        results = health_report()
        healthy = all(value == "ok" for value in results.values())
        processes = _processes()
        if processes is not None:
            healthy = healthy and all(state.startswith("running") for state in processes.values())
        data: dict[str, Any] = {"status": "up" if healthy else "down"}
        # Staff signed in as themselves: an API key of a staff member is another system, not staff.
        if (
            request.user.is_authenticated
            and request.user.is_staff
            and not principal_of(request.user, request.auth).is_api_key
        ):
            data.update(results)
            if processes is not None:
                data["processes"] = processes
        body = {"code": 0 if healthy else 503, "msg": "success" if healthy else "unhealthy", "data": data}
        return Response(body, status=200 if healthy else 503)
