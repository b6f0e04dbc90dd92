"""WebSocket readers: one session's events, and the caller's session list. Thin by design."""

import asyncio
import contextlib
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from anker_project.errors import NotFoundError
from anker_project.principal import Principal, scope_principal

from .live import key_sessions_group, user_sessions_group
from .selectors import session_get, session_list, session_list_item, session_visible
from .services import session_mark_read
from .streams import parse_seq, session_events

CLOSE_UNAUTHORIZED = 4001
CLOSE_NOT_FOUND = 4004
CLOSE_BAD_REQUEST = 4002


@database_sync_to_async
def _visible_session(principal: Principal, session_id: str) -> bool:
    return session_visible(principal=principal, session_id=session_id)


@database_sync_to_async
def _mark_read(principal: Principal, session_id: str) -> None:
    with contextlib.suppress(NotFoundError):  # deleted meanwhile
        session_mark_read(session_id=session_get(principal=principal, session_id=session_id).id)


@database_sync_to_async
def _snapshot(principal: Principal) -> dict[str, Any]:
    sessions = list(session_list(principal=principal))
    return {
        "op": "snapshot",
        "sessions": [session_list_item(s) for s in sessions],
        "revisions": {s.id: s.revision for s in sessions},
    }


class SessionEventsConsumer(AsyncJsonWebsocketConsumer):
    """`WS /api/v1/ws/sessions/{id}?after=<seq>`: replay, then live, as `{"event", "data"}` frames."""

    # Events come through the process's hub (sessions/hub.py), not the Channels layer: an alias
    # that names no layer spares every socket its own channel and Redis receive loop.
    channel_layer_alias = "no-layer:session-events-use-the-hub"
    pump: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        principal = scope_principal(self.scope)
        session_id = self.scope["url_route"]["kwargs"]["session_id"]
        await self.accept()
        if principal is None:
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        if not await _visible_session(principal, session_id):
            await self.close(code=CLOSE_NOT_FOUND)
            return
        raw_after = (parse_qs(self.scope.get("query_string", b"").decode()).get("after") or ["0"])[0]
        try:
            after = parse_seq(raw_after or "0")
        except ValueError:
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        self.pump = asyncio.create_task(self._pump(principal, session_id, after))

    async def _pump(self, principal: Principal, session_id: str, after: int) -> None:
        await _mark_read(principal, session_id)
        async for event in session_events(session_id, after):
            assert isinstance(event, dict)
            await self.send_json({"event": event["type"], "data": event})
            if event["type"] == "message" and event.get("role") == "assistant":
                await _mark_read(principal, session_id)  # someone is watching: nothing is unread

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"event": "pong", "data": {}})

    async def disconnect(self, code: int) -> None:
        if self.pump is not None:
            self.pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.pump


class SessionListConsumer(AsyncJsonWebsocketConsumer):
    """`WS /api/v1/ws/sessions`: a snapshot of the caller's sessions, then upserts and removals."""

    group: str | None = None

    async def connect(self) -> None:
        principal = scope_principal(self.scope)
        await self.accept()
        if principal is None:
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        # An API key follows only its own jobs' sessions: it listens on a group of its own.
        self.group = (
            key_sessions_group(principal.api_key_id)
            if principal.api_key_id is not None
            else user_sessions_group(principal.user_id)
        )
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json(await _snapshot(principal))

    async def sessions_update(self, message: dict[str, Any]) -> None:
        await self.send_json(message["payload"])

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
