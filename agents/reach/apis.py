"""The reach API: a user's MCP servers, tool rules and secrets, a session's secrets, and the
decision on a tool call that waits for approval. Personal principals only (a browser session
or a user's JWT): an API key's jobs name servers, rules and secrets in their bodies. One class
per operation, routed per URL in urls.py; the bodies are rendered by the output serializers."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.fields import Field
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication

from anker_project.envelope import ok
from anker_project.principal import request_principal
from sessions.selectors import session_get

from .decisions import approval_decide
from .mcp_servers import mcp_server_create, mcp_server_delete, mcp_server_update, mcp_servers_of_owner
from .models import McpServer, ToolAction
from .rules import tool_rules_of_owner, tool_rules_set
from .vault import secret_delete, secret_put, secrets_of_owner, session_secret_names, session_secrets_set


class IsPersonal(permissions.BasePermission):
    """A user signed in to the web app or with their JWT, not an API key."""

    message = "this endpoint is for users (web app or JWT), not API keys"

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated) and isinstance(
            request.successful_authenticator, JWTAuthentication | SessionAuthentication
        )


class _PersonalApi(APIView):
    permission_classes = [IsPersonal]


def _with_global(fields: dict[str, Field], after: str, field: Field) -> dict[str, Field]:
    """`fields` with `global` (a Python keyword, so no class attribute) placed after `after`."""
    ordered: dict[str, Field] = {}
    for name, value in fields.items():
        ordered[name] = value
        if name == after:
            ordered["global"] = field
    return ordered


class McpServerSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    transport = serializers.CharField()
    command = serializers.ListField(help_text="stdio: the argv")
    env = serializers.DictField(help_text="stdio: extra environment; ${SECRET} is replaced")
    url = serializers.CharField(help_text="http: the MCP endpoint")
    headers = serializers.DictField(help_text="http: request headers; ${SECRET} is replaced")
    enabled = serializers.BooleanField()
    created_at = serializers.CharField(help_text="ISO 8601")

    def get_fields(self) -> dict[str, Field]:
        global_ = serializers.BooleanField(help_text="set up in the admin for everyone (not yours to change)")
        return _with_global(super().get_fields(), "enabled", global_)


def _server(server: McpServer) -> dict[str, Any]:
    return McpServerSerializer(
        {
            "id": str(server.id),
            "name": server.name,
            "transport": server.transport,
            "command": server.command,
            "env": server.env,
            "url": server.url,
            "headers": server.headers,
            "enabled": server.enabled,
            "global": server.owner_id is None,
            "created_at": server.created_at.isoformat(),
        }
    ).data


class McpServerInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    transport = serializers.CharField(max_length=20)
    command = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False), required=False
    )
    env = serializers.DictField(child=serializers.CharField(allow_blank=True, trim_whitespace=False), required=False)
    url = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    headers = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False), required=False
    )
    enabled = serializers.BooleanField(default=True)


class McpServerListApi(_PersonalApi):
    @extend_schema(
        summary="Your MCP servers and the global ones",
        responses=OpenApiResponse(McpServerSerializer(many=True), description="data: list"),
    )
    def get(self, request: Request) -> Response:
        assert request.user.pk is not None
        return ok([_server(s) for s in mcp_servers_of_owner(owner_id=int(request.user.pk))])


class McpServerCreateApi(_PersonalApi):
    @extend_schema(
        summary="Add an MCP server",
        request=McpServerInput,
        responses=OpenApiResponse(McpServerSerializer, description="data: the server"),
    )
    def post(self, request: Request) -> Response:
        serializer = McpServerInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        enabled = data.pop("enabled")
        assert request.user.pk is not None
        server = mcp_server_create(owner_id=int(request.user.pk), data=data, enabled=enabled)
        return ok(_server(server), http_status=201)


class McpServerUpdateApi(_PersonalApi):
    @extend_schema(
        summary="Change one of your MCP servers",
        request=McpServerInput,
        responses=OpenApiResponse(McpServerSerializer, description="data: the server"),
    )
    def put(self, request: Request, server_id: str) -> Response:
        serializer = McpServerInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        enabled = data.pop("enabled")
        assert request.user.pk is not None
        server = mcp_server_update(owner_id=int(request.user.pk), server_id=server_id, data=data, enabled=enabled)
        return ok(_server(server))


class McpServerDeleteApi(_PersonalApi):
    @extend_schema(summary="Remove one of your MCP servers", responses=OpenApiResponse(description="data: null"))
    def delete(self, request: Request, server_id: str) -> Response:
        assert request.user.pk is not None
        mcp_server_delete(owner_id=int(request.user.pk), server_id=server_id)
        return ok(None)


class ToolRuleSerializer(serializers.Serializer):
    pattern = serializers.CharField(max_length=200)
    action = serializers.ChoiceField(choices=ToolAction.choices)


class ToolRulesSerializer(serializers.Serializer):
    rules = ToolRuleSerializer(many=True, help_text="yours")

    def get_fields(self) -> dict[str, Field]:
        global_ = ToolRuleSerializer(many=True, help_text="set up in the admin for everyone")
        return _with_global(super().get_fields(), "rules", global_)


def _rules(owner_id: int) -> dict[str, Any]:
    return ToolRulesSerializer(
        {"rules": tool_rules_of_owner(owner_id=owner_id), "global": tool_rules_of_owner(owner_id=None)}
    ).data


class ToolRulesGetApi(_PersonalApi):
    @extend_schema(
        summary="Your tool rules (allow | ask | block) and the global ones",
        responses=OpenApiResponse(ToolRulesSerializer, description="data: {rules, global}"),
    )
    def get(self, request: Request) -> Response:
        return ok(_rules(int(request.user.pk or 0)))


class ToolRulesSetApi(_PersonalApi):
    class Input(serializers.Serializer):
        rules = ToolRuleSerializer(many=True)

        class Meta:
            ref_name = "ToolRulesInput"  # the schema's name before the split: clients keep it

    @extend_schema(
        summary="Replace your tool rules",
        request=Input,
        responses=OpenApiResponse(ToolRulesSerializer, description="data: {rules, global}"),
    )
    def put(self, request: Request) -> Response:
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        owner_id = int(request.user.pk or 0)
        tool_rules_set(owner_id=owner_id, rules={r["pattern"]: r["action"] for r in serializer.validated_data["rules"]})
        return ok(_rules(owner_id))


class SecretSerializer(serializers.Serializer):
    name = serializers.CharField()
    created_at = serializers.CharField(help_text="ISO 8601")
    updated_at = serializers.CharField(help_text="ISO 8601")


def _secret(secret: Any) -> dict[str, Any]:
    return SecretSerializer(
        {
            "name": secret.name,
            "created_at": secret.created_at.isoformat(),
            "updated_at": secret.updated_at.isoformat(),
        }
    ).data


class SecretListApi(_PersonalApi):
    @extend_schema(
        summary="Your secrets (names only: values are never shown)",
        responses=OpenApiResponse(SecretSerializer(many=True), description="data: list"),
    )
    def get(self, request: Request) -> Response:
        return ok([_secret(s) for s in secrets_of_owner(owner_id=int(request.user.pk or 0))])


class SecretPutApi(_PersonalApi):
    class Input(serializers.Serializer):
        name = serializers.CharField(max_length=200, trim_whitespace=False)
        value = serializers.CharField(trim_whitespace=False, max_length=1_000_000)

        class Meta:
            ref_name = "SecretCollectionInput"  # the schema's name before the split: clients keep it

    @extend_schema(
        summary="Store a secret (creates or replaces; the value is never shown again)",
        request=Input,
        responses=OpenApiResponse(SecretSerializer, description="data: {name, created_at, updated_at}"),
    )
    def post(self, request: Request) -> Response:
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        secret = secret_put(owner_id=int(request.user.pk or 0), **serializer.validated_data)
        secret.refresh_from_db()
        return ok(_secret(secret), http_status=201)


class SecretDeleteApi(_PersonalApi):
    @extend_schema(summary="Delete a secret", responses=OpenApiResponse(description="data: null"))
    def delete(self, request: Request, name: str) -> Response:
        secret_delete(owner_id=int(request.user.pk or 0), name=name)
        return ok(None)


class SessionSecretsSerializer(serializers.Serializer):
    names = serializers.ListField(child=serializers.CharField())


class SessionSecretsGetApi(_PersonalApi):
    @extend_schema(
        summary="The secrets this session's sandbox gets",
        responses=OpenApiResponse(SessionSecretsSerializer, description="data: {names}"),
    )
    def get(self, request: Request, session_id: str) -> Response:
        session = session_get(principal=request_principal(request), session_id=session_id)
        return ok(SessionSecretsSerializer({"names": session_secret_names(session_id=session.id)}).data)


class SessionSecretsSetApi(_PersonalApi):
    class Input(serializers.Serializer):
        names = serializers.ListField(child=serializers.CharField(max_length=200), max_length=100)

        class Meta:
            ref_name = "SessionSecretsInput"  # the schema's name before the split: clients keep it

    @extend_schema(
        summary="Choose the secrets this session's sandbox gets (from its next turn)",
        request=Input,
        responses=OpenApiResponse(SessionSecretsSerializer, description="data: {names}"),
    )
    def put(self, request: Request, session_id: str) -> Response:
        session = session_get(principal=request_principal(request), session_id=session_id)
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        names = session_secrets_set(
            session_id=session.id, owner_id=session.owner_id, names=serializer.validated_data["names"]
        )
        return ok(SessionSecretsSerializer({"names": names}).data)


class SessionApprovalApi(_PersonalApi):
    class Input(serializers.Serializer):
        approve = serializers.BooleanField()
        note = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
        always = serializers.BooleanField(
            required=False, default=False, help_text="approve, and always allow this tool"
        )

    class Output(serializers.Serializer):
        tool_call_id = serializers.CharField()
        tool = serializers.CharField()
        status = serializers.CharField()
        turn_id = serializers.CharField(help_text="the turn that carries on")

    @extend_schema(
        summary="Approve or deny a tool call that waits for approval",
        request=Input,
        responses=OpenApiResponse(Output, description="data: {tool_call_id, tool, status, turn_id}"),
    )
    def post(self, request: Request, session_id: str, tool_call_id: str) -> Response:
        session = session_get(principal=request_principal(request), session_id=session_id)
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        approval, turn = approval_decide(
            session_id=session.id,
            tool_call_id=tool_call_id,
            approve=data["approve"],
            note=data["note"],
            always=data["always"],
        )
        return ok(
            self.Output(
                {
                    "tool_call_id": approval.tool_call_id,
                    "tool": approval.tool,
                    "status": approval.status,
                    "turn_id": str(turn.id),
                }
            ).data
        )
