"""REST framework, JWT and the OpenAPI schema."""

from datetime import timedelta

from .env import env

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "jobs.auth.JobApiKeyAuthentication",  # Authorization: Api-Key <key>
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "anker_project.parsers.BoundedJSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "anker_project.envelope.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "anker_project.schema.AnkerAutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=60)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
    # Tokens carry a digest of the password hash: a password change invalidates all of them
    # (anker_project/auth_tokens.py checks it on refresh and on WebSockets too).
    "CHECK_REVOKE_TOKEN": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Anker API",
    "DESCRIPTION": (
        "Run AI agent jobs in sandboxes and stream every step. Every response is the "
        "envelope {code, msg, data}; code 0 means success."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Expands URLs routed with anker_project.routing.methods into one operation per view.
    "DEFAULT_GENERATOR_CLASS": "anker_project.schema.AnkerSchemaGenerator",
    # Component names per view (`LoginApi.Input` → `LoginInput`), and every JSON success body
    # documented as the envelope it is (anker_project/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "anker_project.schema.envelope_responses",
    ],
    # Stable names for enums that several fields share (else drf-spectacular makes up a hash name).
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "jobs.models.JobStatus",
        "SessionStatusEnum": "sessions.models.SessionStatus.values",
        "OverlapPolicyEnum": "jobs.models.OverlapPolicy.values",
    },
}
