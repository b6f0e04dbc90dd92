"""The OpenAPI schema's naming: one component name per serializer, one security scheme per way
to authenticate; and URLs routed method by method (`anker_project/routing.py`) documented as
one path.

The house style nests each operation's serializers in its view (`JobApi.Output`,
`LoginApi.Input`); drf-spectacular names a component by the bare class name, so every `Input`
would share one component and most request bodies would show another operation's fields. Here a
nested serializer is named after its view: `LoginApi.Input` → `LoginInput`.
"""

from __future__ import annotations

from typing import Any

from django.urls import Resolver404, resolve
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from .routing import MethodRouter


class AnkerAutoSchema(AutoSchema):
    def get_operation_id(self) -> str:
        """`<path>_list` for a GET of a collection (`/jobs`), so it never collides with the
        GET of one item (`/jobs/{job_id}` → `jobs_retrieve`)."""
        operation_id = super().get_operation_id()
        if self.method == "GET" and operation_id.endswith("_retrieve") and _has_item_route(self.path):
            return operation_id.removesuffix("_retrieve") + "_list"
        return operation_id

    def get_serializer_name(self, serializer: serializers.Serializer, direction: Any) -> str:
        parts = [part for part in type(serializer).__qualname__.split(".") if part != "<locals>"]
        if len(parts) == 1:
            return parts[0]
        return parts[0].removesuffix("Api") + "".join(parts[1:])


class AnkerEndpointEnumerator(EndpointEnumerator):
    """Documents a URL routed with `anker_project.routing.methods` method by method, each from
    its own view, as if one view served them all (same paths, methods and operation ids)."""

    def should_include_endpoint(self, path: str, callback: Any) -> bool:
        if isinstance(callback, MethodRouter):
            include = super().should_include_endpoint
            return all(include(path, view) for view in callback.method_views.values())
        return bool(super().should_include_endpoint(path, callback))

    def get_allowed_methods(self, callback: Any) -> list[str]:
        if isinstance(callback, MethodRouter):
            allowed = super().get_allowed_methods
            return [method for view in callback.method_views.values() for method in allowed(view)]
        return list(super().get_allowed_methods(callback))

    def _get_api_endpoints(self, patterns: Any, prefix: str) -> list[tuple[str, str, str, Any]]:
        return [
            (path, regex, method, _view_of(callback, method))
            for path, regex, method, callback in super()._get_api_endpoints(patterns, prefix)
        ]


class AnkerSchemaGenerator(SchemaGenerator):
    endpoint_inspector_cls = AnkerEndpointEnumerator


def _view_of(callback: Any, method: str) -> Any:
    if isinstance(callback, MethodRouter):
        return callback.method_views[method.lower()]
    return callback


class ApiKeyScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """`Authorization: Api-Key <key>`: the jobs API's keys (jobs/auth.py)."""

    target_class = "jobs.auth.JobApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "An API key, sent as `Authorization: Api-Key <key>` (create one in the admin).",
        }


def _has_item_route(path: str) -> bool:
    """Is `path` a collection, i.e. does `path/<id>` route somewhere (`/jobs` → `/jobs/{job_id}`)?
    `/auth/me` is not: it has no items."""
    if path.rstrip("/").endswith("}"):
        return False
    try:
        resolve(path.rstrip("/") + "/00000000-0000-4000-8000-000000000000")
    except Resolver404:
        return False
    return True


def envelope_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Postprocessing hook: every JSON success body is the envelope `{code, msg, data}` with the
    view's schema as `data` (anker_project/envelope.py `ok`), so a generated client reads what
    the server sends."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for status, response in (operation.get("responses") or {}).items():
                if not str(status).startswith("2"):
                    continue
                content = response.get("content", {}).get("application/json")
                if content is None or "schema" not in content:
                    continue
                content["schema"] = {
                    "type": "object",
                    "required": ["code", "msg", "data"],
                    "properties": {
                        "code": {"type": "integer", "description": "0 on success", "example": 0},
                        "msg": {"type": "string", "example": "success"},
                        "data": content["schema"],
                    },
                }
    return result
