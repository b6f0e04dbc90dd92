"""The view-only VNC filter against RFB 3.4-3.6 clients and oversized messages, and the VNC
consumer's cap on every relayed message."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from sandboxes.rfb import MAX_CUT_TEXT_BYTES, RfbProtocolError, ViewOnlyFilter
from sessions.models import Session
from tests.conftest import client_for
from tests.sandboxes.test_vnc import CLIENT_INIT_SHARED, RfbReader, local_session, ticket_for, ws_for

__all__ = ["local_session"]  # the fixture, imported for the tests below

SERVER_VERSION = b"RFB 003.008\n"
KEY_A = struct.pack(">BBHI", 4, 1, 0, 0x61)
POINTER = struct.pack(">BBHH", 5, 1, 3, 4)
UPDATE_REQUEST = struct.pack(">BBHHHH", 3, 1, 0, 0, 100, 100)


@pytest.mark.parametrize("client_version", [b"RFB 003.003\n", b"RFB 003.004\n", b"RFB 003.005\n", b"RFB 003.006\n"])
def test_a_3_4_to_3_6_client_is_parsed_as_3_3_so_its_input_is_still_dropped(client_version: bytes) -> None:
    f = ViewOnlyFilter()
    f.observe_server(SERVER_VERSION)
    assert f.feed(client_version) == client_version
    f.observe_server(struct.pack(">I", 1))  # 3.3: the server picks "None"; the client sends no choice

    out = f.feed(CLIENT_INIT_SHARED + KEY_A + POINTER + UPDATE_REQUEST)

    assert out == CLIENT_INIT_SHARED + UPDATE_REQUEST


def test_a_3_5_client_answering_a_vnc_auth_challenge_stays_aligned() -> None:
    f = ViewOnlyFilter()
    f.observe_server(SERVER_VERSION + struct.pack(">I", 2))  # VNC authentication
    response = bytes(range(16))  # 16 bytes whose first one would parse as SetPixelFormat

    out = f.feed(b"RFB 003.005\n" + response + CLIENT_INIT_SHARED + KEY_A + UPDATE_REQUEST)

    assert out == b"RFB 003.005\n" + response + CLIENT_INIT_SHARED + UPDATE_REQUEST


def test_a_3_3_client_that_speaks_before_the_server_chose_security_is_cut_off() -> None:
    f = ViewOnlyFilter()
    f.observe_server(SERVER_VERSION)
    with pytest.raises(RfbProtocolError):
        f.feed(b"RFB 003.004\n" + CLIENT_INIT_SHARED)


def _past_handshake() -> ViewOnlyFilter:
    f = ViewOnlyFilter()
    assert f.feed(b"RFB 003.008\n\x01\x01") == b"RFB 003.008\n\x01\x01"
    return f


def test_a_clipboard_message_announcing_2_gib_is_refused_before_any_of_it_is_buffered() -> None:
    f = _past_handshake()
    with pytest.raises(RfbProtocolError, match="clipboard message of 2147483647 bytes"):
        f.feed(struct.pack(">Bxxxi", 6, 2**31 - 1) + b"x" * 100)


def test_a_dropped_clipboard_message_is_skipped_as_it_streams_not_held() -> None:
    f = _past_handshake()
    text = b"y" * MAX_CUT_TEXT_BYTES
    stream = struct.pack(">BxxxI", 6, len(text)) + text

    held = []
    for i in range(0, len(stream), 1000):
        assert f.feed(stream[i : i + 1000]) == b""
        held.append(len(f._buffer))

    assert max(held) < 1000  # never more than one piece, never the whole message
    assert f.feed(UPDATE_REQUEST) == UPDATE_REQUEST


@pytest.mark.django_db(transaction=True)
async def test_a_3_5_view_only_client_gets_the_screen_of_a_real_x11vnc_and_cannot_type(
    local_session: Session, alice: Any
) -> None:
    client = await sync_to_async(client_for)(alice)
    grant = await sync_to_async(ticket_for)(client, local_session.id, True)
    ws = ws_for(local_session.id, grant["ticket"])
    assert (await ws.connect(timeout=10))[0]
    rfb = RfbReader(ws)
    assert await rfb.read(12) == SERVER_VERSION
    await ws.send_to(bytes_data=b"RFB 003.005\n")
    assert await rfb.read(4) == struct.pack(">I", 1)  # 3.3: the server chose "None"
    await ws.send_to(bytes_data=CLIENT_INIT_SHARED)
    width, height = struct.unpack(">HH", await rfb.read(4))
    await rfb.read(16)
    (name_length,) = struct.unpack(">I", await rfb.read(4))
    await rfb.read(name_length)
    await ws.send_to(bytes_data=KEY_A)
    await ws.send_to(bytes_data=struct.pack(">BBHHHH", 3, 0, 0, 0, width, height))

    assert (width, height, (await rfb.read(1))[0]) == (1280, 800, 0)  # a FramebufferUpdate
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("view_only", [False, True])
async def test_a_websocket_message_over_a_mebibyte_ends_the_vnc_connection(
    local_session: Session, alice: Any, view_only: bool
) -> None:
    client = await sync_to_async(client_for)(alice)
    grant = await sync_to_async(ticket_for)(client, local_session.id, view_only)
    ws = ws_for(local_session.id, grant["ticket"])
    assert (await ws.connect(timeout=10))[0]
    assert await RfbReader(ws).read(12) == SERVER_VERSION

    await ws.send_to(bytes_data=b"RFB 003.008\n" + b"\x00" * (1024 * 1024))

    message = await ws.receive_output(10)
    while message["type"] == "websocket.send":  # screen bytes already on their way
        message = await ws.receive_output(10)
    assert (message["type"], message["code"]) == ("websocket.close", 1009)
    await ws.disconnect()
