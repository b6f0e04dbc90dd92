"""`WS /api/v1/sessions/{id}/vnc?ticket=...`: relays the session's sandbox screen (RFB over
WebSocket, subprotocol `binary`) to and from the `/vnc` relay of the sandbox's tool API (which
wants the sandbox's bearer token). Thin: the ticket is checked by
`vnc_ticket_redeem`, view-only input is dropped by `rfb.ViewOnlyFilter`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import parse_qs

import websockets
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from anker_project.principal import Principal, scope_principal

from .hibernation import sandbox_mark_idle
from .rfb import RfbProtocolError, ViewOnlyFilter
from .services import sandbox_touch
from .tickets import TicketRefused, VncGrant, vnc_ticket_redeem

logger = logging.getLogger(__name__)

SUBPROTOCOL = "binary"
# The sandbox's /vnc relay answers once its desktop runs, which starts on first use and may take
# up to the tool API's own start timeout (60 s) on a loaded host: wait that long, not less.
UPSTREAM_OPEN_TIMEOUT_SECONDS = 65
CLOSE_UPSTREAM_FAILED = 1011
CLOSE_PROTOCOL = 1008
CLOSE_TOO_BIG = 1009
# No RFB message a browser sends comes near this (noVNC sends a few bytes per event); the screen
# updates websockify relays are one TCP read each. Bigger messages end the connection instead
# of being held in memory.
MAX_CLIENT_MESSAGE_BYTES = 1024 * 1024
MAX_UPSTREAM_MESSAGE_BYTES = 16 * 1024 * 1024


@database_sync_to_async
def _redeem(ticket: str, session_id: str, principal: Principal | None) -> VncGrant:
    return vnc_ticket_redeem(ticket=ticket, session_id=session_id, socket_principal=principal)


async def _connect_upstream(url: str, token: str) -> Any:
    """A Docker sandbox's relay is `ws://ADDRESS:PORT/vnc`; a local jail's is its tool API's unix
    socket (`ws+unix:PATH`)."""
    options: dict[str, Any] = {
        "additional_headers": {"Authorization": f"Bearer {token}"},
        "subprotocols": [websockets.Subprotocol(SUBPROTOCOL)],
        "open_timeout": UPSTREAM_OPEN_TIMEOUT_SECONDS,
        "max_size": MAX_UPSTREAM_MESSAGE_BYTES,
        "compression": None,
        "ping_interval": None,
    }
    if url.startswith("ws+unix:"):
        return await websockets.unix_connect(url.removeprefix("ws+unix:"), "ws://sandbox/vnc", **options)
    return await websockets.connect(url, **options)


def keep_awake_interval() -> float:
    """How often an open live view renews its sandbox's lease: well within
    SANDBOX_IDLE_STOP_MINUTES, so a watched sandbox never hibernates under its viewer."""
    idle_seconds = settings.SANDBOX_IDLE_STOP_MINUTES * 60
    return 10.0 if idle_seconds <= 0 else max(0.5, min(10.0, idle_seconds / 3))


@database_sync_to_async
def _touch(session_id: str) -> None:
    sandbox_touch(session_id=session_id)


@database_sync_to_async
def _mark_idle(session_id: str) -> None:
    sandbox_mark_idle(session_id=session_id)


class SandboxVncConsumer(AsyncWebsocketConsumer):
    upstream: Any = None
    pump: asyncio.Task[None] | None = None
    keep_awake: asyncio.Task[None] | None = None
    view_filter: ViewOnlyFilter | None = None

    async def connect(self) -> None:
        session_id = self.scope["url_route"]["kwargs"]["session_id"]
        ticket = (parse_qs(self.scope.get("query_string", b"").decode("latin1")).get("ticket") or [""])[0]
        await self.accept(subprotocol=SUBPROTOCOL)
        try:
            grant = await _redeem(ticket, session_id, scope_principal(self.scope))
        except TicketRefused as refused:
            await self.close(code=refused.code)
            return
        try:
            self.upstream = await _connect_upstream(grant.vnc_ws_url, grant.token)
        except (OSError, TimeoutError, websockets.WebSocketException):
            logger.warning("VNC of session %s: the sandbox's VNC relay did not answer", session_id)
            await self.close(code=CLOSE_UPSTREAM_FAILED)
            return
        self.view_filter = ViewOnlyFilter() if grant.view_only else None
        self.pump = asyncio.create_task(self._pump())
        self.keep_awake = asyncio.create_task(self._keep_awake(session_id))

    async def _keep_awake(self, session_id: str) -> None:
        """Someone watching (or driving) the screen is activity: renew the lease while it is open."""
        while True:
            await asyncio.sleep(keep_awake_interval())
            try:
                await _touch(session_id)
            except Exception:  # a missed renewal is retried at the next beat
                logger.warning("VNC of session %s: could not renew the sandbox lease", session_id, exc_info=True)

    async def _pump(self) -> None:
        try:
            async for message in self.upstream:
                if self.view_filter is not None:
                    self.view_filter.observe_server(message if isinstance(message, bytes) else message.encode())
                await self.send(bytes_data=message if isinstance(message, bytes) else message.encode())
        except websockets.ConnectionClosed:
            pass
        with contextlib.suppress(Exception):
            await self.close()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.upstream is None:
            return
        data = bytes_data if bytes_data is not None else (text_data or "").encode()
        if len(data) > MAX_CLIENT_MESSAGE_BYTES:
            await self.close(code=CLOSE_TOO_BIG)
            return
        if self.view_filter is not None:
            try:
                data = self.view_filter.feed(data)
            except RfbProtocolError:
                await self.close(code=CLOSE_PROTOCOL)
                return
        if data:
            with contextlib.suppress(websockets.ConnectionClosed):
                await self.upstream.send(data)

    async def disconnect(self, code: int) -> None:
        if self.keep_awake is not None:
            self.keep_awake.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.keep_awake
            try:  # nobody watches any more: the sandbox's idle timer starts now
                await _mark_idle(self.scope["url_route"]["kwargs"]["session_id"])
            except Exception:  # beat's safety-net sweep hibernates it later
                logger.warning("VNC: could not arm the sandbox's idle timer", exc_info=True)
        if self.pump is not None:
            self.pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.pump
        if self.upstream is not None:
            with contextlib.suppress(Exception):
                await self.upstream.close()
