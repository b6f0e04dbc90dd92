"""Django's ASGI handler with a pool of request threads that keep their database connection.

Django's `ASGIHandler` runs each request's synchronous code (sync middleware, sync views, the
ORM) in a thread of its own: a new `ThreadSensitiveContext` per request, so a new thread per
request. That thread dies with the request, so its database connection cannot outlive it, and
Django's advice under ASGI is `CONN_MAX_AGE=0`: every request connects, runs the SQLite pragmas
or the PostgreSQL handshake, and closes again. Profiled (`GET /api/v1/auth/me`, SQLite), opening
and closing the connection was more than half of the request's CPU.

`PooledASGIHandler` keeps the contract — the thread-sensitive code of one request runs on one
thread, which no other request uses at the same time — but takes that thread from a pool of
`WEB_REQUEST_THREADS` long-lived single-thread executors, so their connections persist
(`CONN_MAX_AGE`, with `CONN_HEALTH_CHECKS`). Connections per web process are therefore bounded
by the pool (plus Channels' database executor), never one per request. When every pooled thread
is busy (long streams, a burst), a request gets a fresh thread as with Django's handler, and its
connection is closed before the thread ends, so nothing leaks.

It also runs a synchronous view's whole middleware chain in one hop to that thread. Django's
async chain adapts every sync-only or `MiddlewareMixin` middleware with `sync_to_async`, twice
each (request and response): 17 thread hops for one `GET /api/v1/auth/me`, each a future, a
wake-up of the thread and one of the event loop. The handler loads the same middleware a second
time in sync mode, and a request whose view is synchronous goes through that chain in a single
`sync_to_async` call. Requests for async views (the job waits, which must hold no thread) keep
the async chain. Both chains are the same classes in the same order, so what a request sees does
not depend on which one served it.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.db import connections
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import Resolver404, get_resolver


class ExecutorPool:
    """Long-lived single-thread executors, lent out to one request at a time (last in, first out,
    so a light load keeps reusing the same few threads and connections)."""

    def __init__(self, size: int) -> None:
        self._idle = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"request-{i}") for i in range(size)]
        self._lock = threading.Lock()
        self.size = size

    def checkout(self) -> ThreadPoolExecutor | None:
        with self._lock:
            return self._idle.pop() if self._idle else None

    def checkin(self, executor: ThreadPoolExecutor) -> None:
        with self._lock:
            self._idle.append(executor)

    def idle(self) -> int:
        with self._lock:
            return len(self._idle)


class PooledASGIHandler(ASGIHandler):
    """ASGIHandler whose requests borrow a pooled thread for their thread-sensitive code."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = ExecutorPool(int(getattr(settings, "WEB_REQUEST_THREADS", 16)))
        self.sync_handler = BaseHandler()
        self.sync_handler.load_middleware(is_async=False)

    @staticmethod
    def view_is_async(request: HttpRequest) -> bool:
        """Whether the URL's view is a coroutine function (unknown URLs: no, the 404 is sync)."""
        try:
            match = get_resolver().resolve(request.path_info)
        except Resolver404:
            return False
        return iscoroutinefunction(match.func)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        if self.view_is_async(request):
            return await super().get_response_async(request)
        response: HttpResponseBase = await sync_to_async(self.sync_handler.get_response, thread_sensitive=True)(request)
        return response

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self.pool.checkout()
        pooled = executor is not None
        if executor is None:
            executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="request-extra")
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
                if not pooled:
                    # This thread ends with the request: its connection must not outlive it.
                    await sync_to_async(connections.close_all)()
        finally:
            if pooled:
                self.pool.checkin(executor)
            else:
                executor.shutdown(wait=False)
