from django.urls import path

from ..model_apis import ModelListApi, SessionModelApi
from .apis import (
    McpServerCollectionApi,
    McpServerDetailApi,
    SecretCollectionApi,
    SecretDetailApi,
    SessionApprovalApi,
    SessionSecretsApi,
    ToolRulesApi,
)

urlpatterns = [
    path("models", ModelListApi.as_view(), name="models"),
    path("sessions/<str:session_id>/model", SessionModelApi.as_view(), name="session-model"),
    path("mcp-servers", McpServerCollectionApi.as_view(), name="mcp-servers"),
    path("mcp-servers/<str:server_id>", McpServerDetailApi.as_view(), name="mcp-server"),
    path("tool-rules", ToolRulesApi.as_view(), name="tool-rules"),
    path("secrets", SecretCollectionApi.as_view(), name="secrets"),
    path("secrets/<str:name>", SecretDetailApi.as_view(), name="secret"),
    path("sessions/<str:session_id>/secrets", SessionSecretsApi.as_view(), name="session-secrets"),
    path(
        "sessions/<str:session_id>/approvals/<str:tool_call_id>", SessionApprovalApi.as_view(), name="session-approval"
    ),
]
