"""VNC through the Channels consumer to a real sandbox's websockify (a Docker container's over TCP,
a local jail's over its unix socket); tickets; view-only."""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core import signing
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from anker_project.asgi import application
from sandboxes.rfb import ViewOnlyFilter
from sandboxes.services import sandbox_acquire
from sessions.models import Session
from tests.conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT_INIT_SHARED = b"\x01"


class RfbReader:
    """Reads exact byte counts from the relayed stream, whatever the frame boundaries."""

    def __init__(self, ws: WebsocketCommunicator) -> None:
        self.ws, self.buffer = ws, b""

    async def read(self, size: int, timeout: float = 10) -> bytes:
        while len(self.buffer) < size:
            message = await self.ws.receive_output(timeout)
            assert message["type"] == "websocket.send", message
            self.buffer += message["bytes"]
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data


@sync_to_async
def access_token(user: Any) -> str:
    return str(RefreshToken.for_user(user).access_token)


def ws_for(session_id: str, ticket: str | None, token: str | None = None) -> WebsocketCommunicator:
    path = f"/api/v1/sessions/{session_id}/vnc" + (f"?ticket={ticket}" if ticket is not None else "")
    if token is not None:
        path += ("&" if "?" in path else "?") + f"token={token}"
    return WebsocketCommunicator(application, path, subprotocols=["binary"])


async def closed_with(ws: WebsocketCommunicator) -> int:
    connected, _ = await ws.connect(timeout=10)
    assert connected
    message = await ws.receive_output(10)
    await ws.disconnect()
    assert message["type"] == "websocket.close"
    return int(message["code"])


def ticket_for(client: APIClient, session_id: str, view_only: bool) -> dict[str, Any]:
    response = client.post(f"/api/v1/sessions/{session_id}/vnc/ticket", {"view_only": view_only}, format="json")
    assert response.status_code == 200, response.json()
    return dict(response.json()["data"])


@pytest.fixture
def docker_session(docker_backend: str, alice: Any) -> Session:
    session = Session.objects.create(owner=alice)
    sandbox_acquire(session_id=session.id)
    return session


async def rfb_handshake_and_first_update(ws: WebsocketCommunicator) -> tuple[int, int]:
    rfb = RfbReader(ws)
    # The first bytes wait for the desktop: opening the live view starts it (lean sandboxes), and
    # Xvfb + x11vnc on a loaded 2-core machine can take longer than one frame read's 10 s.
    assert await rfb.read(12, timeout=60) == b"RFB 003.008\n"
    await ws.send_to(bytes_data=b"RFB 003.008\n")
    count = (await rfb.read(1))[0]
    assert 1 in await rfb.read(count)  # security type None offered
    await ws.send_to(bytes_data=b"\x01")
    assert await rfb.read(4) == b"\x00\x00\x00\x00"  # SecurityResult OK
    await ws.send_to(bytes_data=CLIENT_INIT_SHARED)
    width, height = struct.unpack(">HH", await rfb.read(4))
    await rfb.read(16)  # pixel format
    (name_length,) = struct.unpack(">I", await rfb.read(4))
    await rfb.read(name_length)
    # Input a view-only proxy must drop, then a request for the whole screen.
    await ws.send_to(bytes_data=struct.pack(">BBHI", 4, 1, 0, 0x61))  # KeyEvent 'a' down
    await ws.send_to(bytes_data=struct.pack(">BBHH", 5, 0, 10, 10))  # PointerEvent
    await ws.send_to(bytes_data=struct.pack(">BBHHHH", 3, 0, 0, 0, width, height))
    message_type = (await rfb.read(1))[0]
    assert message_type == 0  # FramebufferUpdate
    return width, height


@pytest.fixture
def local_session(local_desktop_backend: str, alice: Any) -> Session:
    session = Session.objects.create(owner=alice)
    sandbox_acquire(session_id=session.id)
    return session


async def relays_the_screen(session: Session, alice: Any, view_only: bool) -> None:
    client = await sync_to_async(client_for)(alice)
    grant = await sync_to_async(ticket_for)(client, session.id, view_only)
    assert grant["expires_in"] == 60
    assert grant["url"] == f"/api/v1/sessions/{session.id}/vnc?ticket={grant['ticket']}"

    ws = ws_for(session.id, grant["ticket"])
    connected, subprotocol = await ws.connect(timeout=10)
    assert (connected, subprotocol) == (True, "binary")
    assert await rfb_handshake_and_first_update(ws) == (1280, 800)
    await ws.disconnect()


@pytest.mark.docker
@pytest.mark.parametrize("view_only", [False, True])
async def test_vnc_relays_the_rfb_handshake_and_a_framebuffer_update(
    docker_session: Session, alice: Any, view_only: bool
) -> None:
    await relays_the_screen(docker_session, alice, view_only)


@pytest.mark.parametrize("view_only", [False, True])
async def test_vnc_relays_a_local_jails_screen_over_its_unix_socket(
    local_session: Session, alice: Any, view_only: bool
) -> None:
    await relays_the_screen(local_session, alice, view_only)


# Where the X pointer is inside the jail's desktop, asked of the X server itself (XQueryPointer).
POINTER_LOCATION = r"""python3 -c '
import ctypes as c
x = c.CDLL("libX11.so.6")
x.XOpenDisplay.restype = c.c_void_p
x.XDefaultRootWindow.restype = c.c_ulong
x.XDefaultRootWindow.argtypes = [c.c_void_p]
x.XQueryPointer.argtypes = [c.c_void_p, c.c_ulong] + [c.c_void_p] * 7
d = x.XOpenDisplay(None)
w, child, rx, ry, wx, wy, mask = c.c_ulong(), c.c_ulong(), c.c_int(), c.c_int(), c.c_int(), c.c_int(), c.c_uint()
x.XQueryPointer(d, x.XDefaultRootWindow(d), *(c.byref(v) for v in (w, child, rx, ry, wx, wy, mask)))
print(rx.value, ry.value)
'"""


def pointer_location(session_id: str) -> tuple[int, int] | None:
    """None while the desktop's X server is not answering yet (a fresh jail starts it)."""
    handle = sandbox_acquire(session_id=session_id)
    result = handle.tool_api.shell_exec(id="pointer", command=POINTER_LOCATION, wait_seconds=20)
    if result["returncode"] != 0:
        return None
    x, y = result["output"].split()
    return int(x), int(y)


async def move_pointer_through_the_relay(session: Session, alice: Any, *, view_only: bool, to: tuple[int, int]) -> None:
    """A pointer move (and a key press), then a whole-screen request: the screen's answer comes
    after x11vnc handled everything sent before it."""
    client = await sync_to_async(client_for)(alice)
    grant = await sync_to_async(ticket_for)(client, session.id, view_only)
    ws = ws_for(session.id, grant["ticket"])
    connected, _ = await ws.connect(timeout=10)
    assert connected
    rfb = RfbReader(ws)
    assert await rfb.read(12) == b"RFB 003.008\n"
    await ws.send_to(bytes_data=b"RFB 003.008\n")
    count = (await rfb.read(1))[0]
    assert 1 in await rfb.read(count)
    await ws.send_to(bytes_data=b"\x01")
    assert await rfb.read(4) == b"\x00\x00\x00\x00"
    await ws.send_to(bytes_data=CLIENT_INIT_SHARED)
    width, height = struct.unpack(">HH", await rfb.read(4))
    await rfb.read(16)
    (name_length,) = struct.unpack(">I", await rfb.read(4))
    await rfb.read(name_length)
    await ws.send_to(bytes_data=struct.pack(">BBHH", 5, 0, *to))  # PointerEvent, no button
    await ws.send_to(bytes_data=struct.pack(">BBHI", 4, 1, 0, 0x61))  # KeyEvent 'a' down
    await ws.send_to(bytes_data=struct.pack(">BBHI", 4, 0, 0, 0x61))  # and up
    await ws.send_to(bytes_data=struct.pack(">BBHHHH", 3, 0, 0, 0, width, height))
    assert (await rfb.read(1))[0] == 0  # FramebufferUpdate
    await ws.disconnect()


async def test_a_view_only_connection_cannot_move_the_pointer_that_a_full_control_one_moves(
    local_session: Session, alice: Any
) -> None:
    await relays_the_screen(local_session, alice, view_only=True)  # the desktop starts on the first /vnc
    start = None
    for _ in range(100):
        start = await sync_to_async(pointer_location)(local_session.id)
        if start is not None:
            break
    assert start is not None, "the jail's X server never answered"
    target = (37, 23) if start != (37, 23) else (41, 29)

    await move_pointer_through_the_relay(local_session, alice, view_only=True, to=target)
    assert await sync_to_async(pointer_location)(local_session.id) == start  # the input was dropped

    # The same bytes through a full-control connection do move it (x11vnc may apply a move a
    # moment after answering, so ask the X server until it has).
    await move_pointer_through_the_relay(local_session, alice, view_only=False, to=target)
    seen: list[tuple[int, int] | None] = []
    for _ in range(100):
        seen.append(await sync_to_async(pointer_location)(local_session.id))
        if seen[-1] == target:
            break
    assert seen[-1] == target, seen


@pytest.mark.docker
async def test_vnc_refuses_missing_expired_reused_and_foreign_tickets(
    docker_session: Session, alice: Any, bob: Any, settings: Any
) -> None:
    alice_client = await sync_to_async(client_for)(alice)
    assert await closed_with(ws_for(docker_session.id, None)) == 4001
    assert await closed_with(ws_for(docker_session.id, "forged:ticket")) == 4003

    used = (await sync_to_async(ticket_for)(alice_client, docker_session.id, True))["ticket"]
    ws = ws_for(docker_session.id, used)
    await ws.connect(timeout=10)
    assert await RfbReader(ws).read(12) == b"RFB 003.008\n"
    await ws.disconnect()
    assert await closed_with(ws_for(docker_session.id, used)) == 4003  # reused

    settings.SANDBOX_VNC_TICKET_SECONDS = 1
    expired = (await sync_to_async(ticket_for)(alice_client, docker_session.id, True))["ticket"]
    time.sleep(2.1)
    assert await closed_with(ws_for(docker_session.id, expired)) == 4003
    settings.SANDBOX_VNC_TICKET_SECONDS = 60

    bob_token, alice_token = await access_token(bob), await access_token(alice)
    alices = (await sync_to_async(ticket_for)(alice_client, docker_session.id, True))["ticket"]
    assert await closed_with(ws_for(docker_session.id, alices, token=bob_token)) == 4003  # bob presents alice's
    bob_session = await sync_to_async(Session.objects.create)(owner=bob)
    assert await closed_with(ws_for(bob_session.id, alices, token=bob_token)) == 4003  # for another session
    # A ticket signed for alice but naming bob's session (forged claims) fails the signature.
    forged = signing.TimestampSigner(salt="wrong").sign_object({"u": alice.pk, "s": docker_session.id, "v": True})
    assert await closed_with(ws_for(docker_session.id, forged)) == 4003
    # The refused attempts did not burn alice's ticket: she can still use it.
    ws = ws_for(docker_session.id, alices, token=alice_token)
    await ws.connect(timeout=10)
    assert await RfbReader(ws).read(12) == b"RFB 003.008\n"
    await ws.disconnect()


def test_the_view_only_filter_keeps_pixel_requests_and_drops_input() -> None:
    f = ViewOnlyFilter()
    handshake = b"RFB 003.008\n" + b"\x01" + b"\x01"
    set_encodings = struct.pack(">BBHii", 2, 0, 2, 0, -223)
    update_request = struct.pack(">BBHHHH", 3, 1, 0, 0, 100, 100)
    key = struct.pack(">BBHI", 4, 1, 0, 0x61)
    pointer = struct.pack(">BBHH", 5, 1, 3, 4)
    cut = struct.pack(">BxxxI", 6, 5) + b"hello"
    pixel_format = bytes([0, 0, 0, 0]) + bytes(16)
    stream = handshake + pixel_format + key + set_encodings + pointer + cut + update_request

    # Fed one byte at a time, as a slow network might deliver it.
    out = b"".join(f.feed(stream[i : i + 1]) for i in range(len(stream)))

    assert out == handshake + pixel_format + set_encodings + update_request


def test_the_view_only_filter_skips_an_extended_clipboard_message_and_keeps_what_follows() -> None:
    """noVNC answers the server's Extended Clipboard caps with a ClientCutText of negative length
    (-8: flags + one size); the frame requests after it must still reach the server (they did
    not, and the view-only screen froze on its first frame)."""
    f = ViewOnlyFilter()
    handshake = b"RFB 003.008\n" + b"\x01" + b"\x01"
    caps = struct.pack(">Bxxxi", 6, -8) + bytes.fromhex("1f000001") + bytes.fromhex("00000000")
    update_request = struct.pack(">BBHHHH", 3, 1, 0, 0, 1280, 800)

    assert f.feed(handshake) == handshake
    assert f.feed(caps + update_request) == update_request
    assert f.feed(update_request) == update_request


async def test_the_live_view_wakes_a_hibernated_sandbox_and_keeps_it_awake_while_open(
    local_session: Session, alice: Any, settings: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from sandboxes.hibernation import sandbox_hibernate, sandboxes_hibernate_idle
    from sandboxes.models import Sandbox, SandboxStatus

    settings.SANDBOX_IDLE_STOP_MINUTES = 0.05  # 3 s: the open view renews the lease every second
    box = await sync_to_async(Sandbox.objects.get)(session=local_session)
    assert await sync_to_async(sandbox_hibernate)(sandbox_id=str(box.pk))

    client = await sync_to_async(client_for)(alice)
    grant = await sync_to_async(ticket_for)(client, local_session.id, True)  # the ticket wakes it
    ws = ws_for(local_session.id, grant["ticket"])
    connected, _ = await ws.connect(timeout=10)
    assert connected
    assert await rfb_handshake_and_first_update(ws) == (1280, 800)

    # Idle by its lease, but watched: the open view renews the lease before the sweep comes.
    idle_lease = timezone.now() + timedelta(minutes=settings.SANDBOX_TTL_MINUTES - 1)
    await sync_to_async(Sandbox.objects.filter(pk=box.pk).update)(lease_expires_at=idle_lease)
    deadline = time.monotonic() + 20
    while (await sync_to_async(Sandbox.objects.get)(pk=box.pk)).lease_expires_at <= idle_lease:
        assert time.monotonic() < deadline, "the open live view did not renew the lease"
        await asyncio.sleep(0.1)
    assert await sync_to_async(sandboxes_hibernate_idle)() == 0
    assert (await sync_to_async(Sandbox.objects.get)(pk=box.pk)).status == SandboxStatus.IN_USE
    await ws.disconnect()
