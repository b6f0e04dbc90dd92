"""Event fan-out: publish → receipt latency over WebSocket and SSE, next to raw Redis pub/sub.

For N sessions, each with one WebSocket reader and one SSE reader (the chat stream resumed
with `event_id`), a publisher thread pool emits events through the real publisher (the
same code path a worker uses). Prints p50/p99 latency and events/s for N = 1, 10, 100, and
the raw Redis PUBLISH→SUBSCRIBE latency measured in the same run, so the ratio is
comparable across machines.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stack import BenchStack, percentile

EVENTS_PER_SESSION = 20


def raw_redis_latency(url: str, count: int = 2000) -> list[float]:
    import redis

    client = redis.Redis.from_url(url)
    pubsub = client.pubsub()
    pubsub.subscribe("bench-raw")
    pubsub.get_message(timeout=1)
    latencies: list[float] = []

    def reader() -> None:
        while len(latencies) < count:
            message = pubsub.get_message(timeout=5)
            if message and message["type"] == "message":
                latencies.append((time.perf_counter() - float(message["data"])) * 1000)

    thread = threading.Thread(target=reader)
    thread.start()
    for _ in range(count):
        client.publish("bench-raw", repr(time.perf_counter()))
        time.sleep(0.0002)
    thread.join()
    return latencies


async def run_round(host: str, n: int, token: str, sessions: list[tuple[str, str]]) -> dict[str, float]:
    import httpx
    import websockets

    from sessions.events import DoneEvent, MessageDeltaEvent
    from sessions.publisher import event_publish

    ws_lat: list[float] = []
    sse_lat: list[float] = []
    ready = 0
    all_ready = asyncio.Event()

    def mark_ready() -> None:
        nonlocal ready
        ready += 1
        if ready == 2 * n:
            all_ready.set()

    async def ws_reader(session_id: str) -> None:
        async with websockets.connect(f"ws://{host}/api/v1/ws/sessions/{session_id}?after=0&token={token}") as ws:
            mark_ready()
            while True:
                frame = json.loads(await ws.recv())
                if frame["event"] == "done":
                    return
                ws_lat.append((time.time() - float(frame["data"]["delta"])) * 1000)

    async def sse_reader(client: httpx.AsyncClient, session_id: str) -> None:
        body = {"message": "", "event_id": "0"}
        async with client.stream("POST", f"http://{host}/api/v1/sessions/{session_id}/chat", json=body) as response:
            mark_ready()
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "message_delta":
                    sse_lat.append((time.time() - float(json.loads(line[6:])["delta"])) * 1000)
                elif line.startswith("data: ") and event == "done":
                    return

    limits = httpx.Limits(max_connections=n + 10)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120, limits=limits) as client:
        tasks = [asyncio.create_task(ws_reader(s)) for s, _ in sessions]
        tasks += [asyncio.create_task(sse_reader(client, s)) for s, _ in sessions]
        await asyncio.wait_for(all_ready.wait(), 60)
        await asyncio.sleep(0.5)  # readers have subscribed and replayed nothing

        def emit(session_id: str, turn_id: str) -> None:
            for _ in range(EVENTS_PER_SESSION):
                event_publish(session_id, MessageDeltaEvent(delta=repr(time.time()), turn_id=turn_id))
            event_publish(session_id, DoneEvent(turn_id=turn_id))

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=min(32, n)) as pool:
            await asyncio.gather(*(asyncio.get_running_loop().run_in_executor(pool, emit, s, t) for s, t in sessions))
            await asyncio.wait_for(asyncio.gather(*tasks), 120)
        elapsed = time.perf_counter() - started
    received = len(ws_lat) + len(sse_lat)
    expected = 2 * n * EVENTS_PER_SESSION
    return {
        "n": n,
        "events": n * EVENTS_PER_SESSION,
        "deliveries": received,
        "expected": expected,
        "ws_p50": percentile(ws_lat, 50),
        "ws_p99": percentile(ws_lat, 99),
        "sse_p50": percentile(sse_lat, 50),
        "sse_p99": percentile(sse_lat, 99),
        "published_per_s": n * (EVENTS_PER_SESSION + 1) / elapsed,
        "delivered_per_s": received / elapsed,
    }


def main() -> None:
    stack = BenchStack()
    failed = True
    try:
        stack.django_setup()
        host = stack.start_web()
        from django.contrib.auth import get_user_model
        from rest_framework_simplejwt.tokens import RefreshToken

        from agents.models import Turn
        from sessions.services import session_create

        user = get_user_model().objects.create_user("bench", password="bench-pass-123")
        token = str(RefreshToken.for_user(user).access_token)
        raw = raw_redis_latency(f"redis://127.0.0.1:{stack.redis_port}/0")
        raw_p50, raw_p99 = percentile(raw, 50), percentile(raw, 99)
        print("Event fan-out (publisher → Redis channel layer → daphne → client)")
        print(f"raw Redis PUBLISH→SUBSCRIBE: p50 {raw_p50:.3f} ms  p99 {raw_p99:.3f} ms  (n={len(raw)})")
        print(
            f"{'N':>4} {'deliv':>11} {'WS p50':>8} {'WS p99':>8} {'SSE p50':>8} {'SSE p99':>8}"
            f" {'pub/s':>7} {'deliv/s':>8} {'WS p50/raw':>10}"
        )
        for n in (1, 10, 100):
            sessions = []
            for _ in range(n):
                session = session_create(owner_id=user.pk, mode="lite")
                # A turn no worker runs keeps each SSE stream open until the bench's `done`.
                turn = Turn.objects.create(session=session, mode="lite", message="bench")
                sessions.append((session.id, str(turn.id)))
            r = asyncio.run(run_round(host, n, token, sessions))
            print(
                f"{n:>4} {r['deliveries']:>5}/{r['expected']:<5} {r['ws_p50']:>8.2f} {r['ws_p99']:>8.2f}"
                f" {r['sse_p50']:>8.2f} {r['sse_p99']:>8.2f} {r['published_per_s']:>7.0f}"
                f" {r['delivered_per_s']:>8.0f} {r['ws_p50'] / raw_p50:>10.0f}x"
            )
        print("latencies in ms; deliveries = events received by all readers / expected")
        failed = False
    finally:
        stack.close(failed=failed)


if __name__ == "__main__":
    main()
