"""The seed's response envelope `{code, msg, data}` for every REST response, errors included."""

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import ApplicationError

logger = logging.getLogger(__name__)


def ok(data: Any = None, *, http_status: int = status.HTTP_200_OK) -> Response:
    return Response({"code": 0, "msg": "success", "data": data}, status=http_status)


def _body(code: int, msg: str, data: Any = None) -> dict[str, Any]:
    return {"code": code, "msg": msg, "data": data}


def envelope_response(code: int, msg: str, data: Any = None, *, status: int) -> JsonResponse:
    """The envelope as a plain Django response, for views that answer outside DRF (async views, URL handlers)."""
    return JsonResponse(_body(code, msg, data), status=status)


def _flatten(detail: Any, prefix: str = "") -> list[str]:
    """Turn DRF's nested error detail into readable 'field: message' lines."""
    if isinstance(detail, dict):
        lines: list[str] = []
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            lines += _flatten(value, f"{prefix}{name}." if name else prefix)
        return lines
    if isinstance(detail, list):
        return [line for item in detail for line in _flatten(item, prefix)]
    return [f"{prefix.rstrip('.')}: {detail}" if prefix else str(detail)]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Map every exception raised in an API view to the envelope, with a fitting status."""
    if isinstance(exc, ApplicationError):
        refused = Response(_body(exc.status, exc.message, exc.extra), status=exc.status)
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int):
            refused["Retry-After"] = str(retry_after)
        return refused
    if isinstance(exc, exceptions.ValidationError):
        msg = "; ".join(_flatten(exc.detail)) or "Invalid input."
        return Response(_body(422, msg, {"errors": exc.detail}), status=status.HTTP_422_UNPROCESSABLE_ENTITY)
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled error in %s", context.get("view"))
        return Response(_body(500, "Internal server error"), status=500)
    detail = response.data.get("detail") if isinstance(response.data, dict) else response.data
    msg = str(detail) if detail else response.status_text
    response.data = _body(response.status_code, msg)
    return response


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return envelope_response(404, "Not found.", status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception or Exception("Not found"))


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return envelope_response(500, "Internal server error", status=500)
    from django.views.defaults import server_error

    return server_error(request)
