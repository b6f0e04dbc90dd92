"""The published OpenAPI schema says what the server does: each operation's own request body,
every JSON success body as the envelope, unique operation ids, and no generator warning
(a warning here has meant an operation documented with another operation's body)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path: Path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    # --fail-on-warn: a name collision, an unguessable view or an unresolved auth class fails it.
    call_command("spectacular", "--file", str(path), "--fail-on-warn", "--validate")
    return dict(yaml.safe_load(path.read_text()))


def _body_schema(schema: dict[str, Any], ref: str) -> dict[str, Any]:
    return dict(schema["components"]["schemas"][ref.rsplit("/", 1)[-1]])


def test_each_operation_has_its_own_request_body(schema: dict[str, Any]) -> None:
    login = schema["paths"]["/api/v1/auth/login"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    logout = schema["paths"]["/api/v1/auth/logout"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    vnc = schema["paths"]["/api/v1/sessions/{session_id}/vnc/ticket"]["post"]["requestBody"]["content"]

    assert set(_body_schema(schema, login["$ref"])["properties"]) == {"username", "password"}
    assert set(_body_schema(schema, logout["$ref"])["properties"]) == {"refresh_token"}
    assert "username" not in _body_schema(schema, vnc["application/json"]["schema"]["$ref"])["properties"]


def test_success_bodies_are_documented_as_the_envelope(schema: dict[str, Any]) -> None:
    me = schema["paths"]["/api/v1/auth/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]

    assert me["required"] == ["code", "msg", "data"]
    assert set(_body_schema(schema, me["properties"]["data"]["$ref"])["properties"]) == {
        "id",
        "username",
        "email",
        "is_staff",
    }


def test_operation_ids_are_unique_and_name_lists_as_lists(schema: dict[str, Any]) -> None:
    ids = [op["operationId"] for path in schema["paths"].values() for op in path.values() if "operationId" in op]

    assert len(ids) == len(set(ids))
    assert schema["paths"]["/api/v1/jobs"]["get"]["operationId"] == "jobs_list"
    assert schema["paths"]["/api/v1/jobs/{job_id}"]["get"]["operationId"] == "jobs_retrieve"
    assert schema["paths"]["/api/v1/auth/me"]["get"]["operationId"] == "auth_me_retrieve"
    assert "ApiKey" in schema["components"]["securitySchemes"]


def test_a_url_routed_method_by_method_keeps_one_path_with_each_methods_operation(schema: dict[str, Any]) -> None:
    detail = schema["paths"]["/api/v1/sessions/{session_id}"]
    collection = schema["paths"]["/api/v1/sessions"]

    assert {method: op["operationId"] for method, op in detail.items()} == {
        "get": "sessions_retrieve",
        "patch": "sessions_partial_update",
        "delete": "sessions_destroy",
    }
    assert {method: op["operationId"] for method, op in collection.items()} == {
        "get": "sessions_list",
        "put": "sessions_update",
    }
    rename = detail["patch"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert set(_body_schema(schema, rename)["properties"]) == {"title"}
