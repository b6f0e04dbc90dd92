from django.urls import path

from anker_project.routing import methods

from ..model_apis import ModelListApi, SessionModelGetApi, SessionModelSetApi
from .apis import (
    McpServerCreateApi,
    McpServerDeleteApi,
    McpServerListApi,
    McpServerUpdateApi,
    SecretDeleteApi,
    SecretListApi,
    SecretPutApi,
    SessionApprovalApi,
    SessionSecretsGetApi,
    SessionSecretsSetApi,
    ToolRulesGetApi,
    ToolRulesSetApi,
)

urlpatterns = [
    path("models", ModelListApi.as_view(), name="models"),
    path(
        "sessions/<str:session_id>/model",
        methods(get=SessionModelGetApi.as_view(), put=SessionModelSetApi.as_view()),
        name="session-model",
    ),
    path("mcp-servers", methods(get=McpServerListApi.as_view(), post=McpServerCreateApi.as_view()), name="mcp-servers"),
    path(
        "mcp-servers/<str:server_id>",
        methods(put=McpServerUpdateApi.as_view(), delete=McpServerDeleteApi.as_view()),
        name="mcp-server",
    ),
    path("tool-rules", methods(get=ToolRulesGetApi.as_view(), put=ToolRulesSetApi.as_view()), name="tool-rules"),
    path("secrets", methods(get=SecretListApi.as_view(), post=SecretPutApi.as_view()), name="secrets"),
    path("secrets/<str:name>", SecretDeleteApi.as_view(), name="secret"),
    path(
        "sessions/<str:session_id>/secrets",
        methods(get=SessionSecretsGetApi.as_view(), put=SessionSecretsSetApi.as_view()),
        name="session-secrets",
    ),
    path(
        "sessions/<str:session_id>/approvals/<str:tool_call_id>", SessionApprovalApi.as_view(), name="session-approval"
    ),
]
