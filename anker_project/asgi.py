"""The ASGI application served by daphne: HTTP (Django) and WebSockets (Channels)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anker_project.settings")
# The web process: its pooled request threads keep their database connections (settings/base.py).
os.environ.setdefault("ANKER_PROCESS", "web")
django.setup(set_prefix=False)  # what get_asgi_application() does, with our handler below

from .asgi_handler import PooledASGIHandler  # noqa: E402

django_asgi_app = PooledASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from jobs.auth import api_key_lookup  # noqa: E402
from sandboxes.consumers import SandboxVncConsumer  # noqa: E402
from sessions.consumers import SessionEventsConsumer, SessionListConsumer  # noqa: E402

from .edge import BodyLimitMiddleware, install_daphne_body_limits  # noqa: E402
from .ws_auth import WebSocketAuthStack  # noqa: E402

install_daphne_body_limits()  # daphne would otherwise spool any body to disk before Django sees it

websocket_urlpatterns = [
    path("api/v1/ws/sessions", SessionListConsumer.as_asgi()),
    path("api/v1/ws/sessions/<str:session_id>", SessionEventsConsumer.as_asgi()),
    path("api/v1/sessions/<str:session_id>/vnc", SandboxVncConsumer.as_asgi()),
]

application = ProtocolTypeRouter(
    {
        "http": BodyLimitMiddleware(django_asgi_app),
        "websocket": WebSocketAuthStack(URLRouter(websocket_urlpatterns), api_key_lookup=api_key_lookup),
    }
)
