"""Django's ASGI handler with its middleware chain run synchronously, in one thread hop.

Django serves ASGI with an async middleware chain. Every middleware built on
`MiddlewareMixin` (all of Django's, WhiteNoise's) then runs its `process_request` and
`process_response` through `sync_to_async` — two thread hops per middleware, ~20 per
request here, plus one for the (sync) view. Profiled under daphne with 8 clients, those
hops were most of the time spent on `GET /api/v1/auth/me` that was not in daphne itself.
Our views are all synchronous, so this handler builds Django's *sync* chain and enters it
once per request: request_started, the chain (middleware + view) and request_finished are
the only hops left. Streaming responses (SSE) are streamed by the ASGI handler as before;
an async view, if one is added, still works (Django adapts it inside the chain).
"""

from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponseBase


class SyncChainASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        response: Any = await sync_to_async(self.get_response, thread_sensitive=True)(request)
        return response  # type: ignore[no-any-return]


def get_asgi_application() -> SyncChainASGIHandler:
    """Like `django.core.asgi.get_asgi_application`, with the one-hop handler."""
    import django

    django.setup(set_prefix=False)
    return SyncChainASGIHandler()
