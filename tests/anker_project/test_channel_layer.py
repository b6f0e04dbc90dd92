"""The channel layer on the real Redis: a receive may wait longer than one blocking poll."""

from __future__ import annotations

import asyncio

from channels.layers import get_channel_layer


async def test_a_receive_that_waits_past_the_blocking_poll_gets_its_message() -> None:
    """channels-redis polls with a 5 s BZPOPMIN; redis-py 8 reads with a 5 s socket timeout by
    default, so a receive on a quiet channel used to fail with "Timeout reading" at 5 s."""
    layer = get_channel_layer()
    assert layer is not None
    channel = await layer.new_channel()

    async def send_late() -> None:
        await asyncio.sleep(7)
        await layer.send(channel, {"type": "late.hello", "n": 1})

    sender = asyncio.create_task(send_late())
    message = await asyncio.wait_for(layer.receive(channel), timeout=30)
    await sender

    assert message == {"type": "late.hello", "n": 1}
