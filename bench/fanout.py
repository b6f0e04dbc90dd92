"""Event fan-out: publish → receipt latency over WebSocket and SSE, next to raw Redis pub/sub.

Two modes, both against daphne on private servers, both printing the raw Redis
PUBLISH→SUBSCRIBE latency measured in the same run and the ratio to it:

- sustained (default): S sessions, each with one WebSocket and one SSE reader (the chat
  stream resumed with `event_id`), and a publisher *process* (as a worker would be) that
  offers R events/s to every session for D seconds through the real publisher. Reports
  publish → receipt p50/p99 (from the moment the publish call started), the rate the
  publisher achieved against the rate offered, and lost / duplicated deliveries.
- saturation (`--saturation`): for N = 1, 10, 100 sessions, publisher threads emit 20 events
  per session as fast as they can; reports latency and events/s.

Any lost or duplicated delivery makes the run exit non-zero.

    python bench/fanout.py [--sessions 100] [--rate 20] [--duration 60] [--saturation]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

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


class Readers:
    """One WebSocket and one SSE reader per session; records (seq, latency) per reader."""

    def __init__(self, host: str, token: str, sessions: list[tuple[str, str]]) -> None:
        self.host, self.token, self.sessions = host, token, sessions
        self.ws: dict[str, list[tuple[int, float]]] = {s: [] for s, _ in sessions}
        self.sse: dict[str, list[tuple[int, float]]] = {s: [] for s, _ in sessions}
        self.ready = 0
        self.reconnects = 0
        self.all_ready = asyncio.Event()

    def _mark_ready(self) -> None:
        self.ready += 1
        if self.ready == 2 * len(self.sessions):
            self.all_ready.set()

    @staticmethod
    def _latency(data: dict[str, Any]) -> float:
        return (time.time() - float(data["delta"])) * 1000

    async def ws_reader(self, session_id: str) -> None:
        import websockets

        got = self.ws[session_id]
        marked = False
        for _attempt in range(5):
            # daphne drops a handshake the app has not accepted within 5 s (a loaded machine):
            # connect again after the last seq received, as the web app does.
            after = got[-1][0] if got else 0
            url = f"ws://{self.host}/api/v1/ws/sessions/{session_id}?after={after}&token={self.token}"
            try:
                async with websockets.connect(url, max_queue=None, open_timeout=120) as ws:
                    if not marked:
                        marked = True
                        self._mark_ready()
                    while True:
                        frame = json.loads(await ws.recv())
                        if frame["event"] == "done":
                            return
                        got.append((frame["data"]["seq"], self._latency(frame["data"])))
            except (OSError, websockets.exceptions.WebSocketException) as exc:
                self.reconnects += 1
                print(f"  (a WebSocket reader reconnects: {exc!r:.80})", flush=True)
        raise RuntimeError(f"the WebSocket reader of {session_id} failed 5 times")

    async def sse_reader(self, client: Any, session_id: str) -> None:
        body = {"message": "", "event_id": "0"}
        async with client.stream("POST", f"http://{self.host}/api/v1/sessions/{session_id}/chat", json=body) as r:
            self._mark_ready()
            event = ""
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "message_delta":
                    data = json.loads(line[6:])
                    self.sse[session_id].append((data["seq"], self._latency(data)))
                elif line.startswith("data: ") and event == "done":
                    return

    async def run(self, publish: Any, timeout: float) -> float:
        """Connect every reader, run `publish()` in a thread, wait for every `done`; returns seconds."""
        import httpx

        limits = httpx.Limits(max_connections=len(self.sessions) + 10)
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(headers=headers, timeout=timeout, limits=limits) as client:
            tasks = [asyncio.create_task(self.ws_reader(s)) for s, _ in self.sessions]
            tasks += [asyncio.create_task(self.sse_reader(client, s)) for s, _ in self.sessions]
            await asyncio.wait_for(self.all_ready.wait(), 120)
            await asyncio.sleep(0.5)  # readers have subscribed and replayed nothing
            started = time.perf_counter()
            await asyncio.to_thread(publish)
            await asyncio.wait_for(asyncio.gather(*tasks), timeout)
            return time.perf_counter() - started

    def check(self, stored: dict[str, int]) -> tuple[int, int, int]:
        """(expected, lost, duplicated) deliveries against what the log holds per session."""
        expected = lost = duplicated = 0
        for session_id, count in stored.items():
            for got in (self.ws[session_id], self.sse[session_id]):
                seqs = [seq for seq, _ in got]
                expected += count
                lost += count - len(set(seqs))
                duplicated += len(seqs) - len(set(seqs))
        return expected, lost, duplicated

    def latencies(self) -> tuple[list[float], list[float]]:
        ws = [lat for got in self.ws.values() for _, lat in got]
        sse = [lat for got in self.sse.values() for _, lat in got]
        return ws, sse


def publisher_main(argv: list[str]) -> None:
    """The publisher process: offers `rate` events/s to each session for `duration` s, then `done`."""
    import django

    django.setup()
    from sessions.events import DoneEvent, MessageDeltaEvent
    from sessions.publisher import event_publish

    spec = json.loads(argv[0])
    sessions: list[list[str]] = spec["sessions"]
    rate, duration, threads = float(spec["rate"]), float(spec["duration"]), int(spec["threads"])
    cpu_before = sum(os.times()[:2])
    start = time.time() + 0.2
    ticks = int(rate * duration)
    lags: list[float] = []

    def run(part: list[list[str]]) -> None:
        for k in range(ticks):
            due = start + k / rate
            now = time.time()
            if due > now:
                time.sleep(due - now)
            else:
                lags.append(now - due)
            for session_id, turn_id in part:
                event_publish(session_id, MessageDeltaEvent(delta=repr(time.time()), turn_id=turn_id))
        for session_id, turn_id in part:
            event_publish(session_id, DoneEvent(turn_id=turn_id))

    parts = [sessions[i::threads] for i in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, [p for p in parts if p]))
    elapsed = time.time() - start
    cpu = sum(os.times()[:2]) - cpu_before
    print(
        json.dumps(
            {"elapsed": elapsed, "lag_p99": percentile(lags, 99) if lags else 0.0, "late": len(lags), "cpu": cpu}
        )
    )


def sustained(stack: BenchStack, host: str, token: str, args: argparse.Namespace, raw_p50: float) -> bool:
    sessions = make_sessions(args.sessions)
    spec = {"sessions": sessions, "rate": args.rate, "duration": args.duration, "threads": args.threads}
    result: dict[str, Any] = {}

    def publish() -> None:
        proc = subprocess.run(
            [sys.executable, __file__, "--publisher", json.dumps(spec)],
            capture_output=True,
            text=True,
            env=os.environ,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"the publisher failed: {proc.stderr[-2000:]}")
        result.update(json.loads(proc.stdout.strip().splitlines()[-1]))

    import psutil

    web = psutil.Process(stack.web_pid)
    web_before = web.cpu_times()
    readers = Readers(host, token, sessions)
    asyncio.run(readers.run(publish, timeout=args.duration + 300))
    web_after = web.cpu_times()
    web_cpu = web_after.user + web_after.system - web_before.user - web_before.system
    from sessions import eventlog

    stored = {s: len(eventlog.events_after(s, 0, limit=1_000_000)) - 1 for s, _ in sessions}  # minus `done`
    offered = args.sessions * args.rate
    published = sum(stored.values())
    expected, lost, duplicated = readers.check(stored)
    ws, sse = readers.latencies()
    print(
        f"sustained: {args.sessions} sessions x {args.rate:g} events/s for {args.duration:g} s,"
        f" 1 WS + 1 SSE reader each, publisher process with {args.threads} threads"
    )
    achieved = published / result["elapsed"]
    print(
        f"  offered {offered:.0f} events/s, published {achieved:.0f} events/s"
        f" ({achieved / offered:.0%}; publisher behind schedule p99 {result['lag_p99'] * 1000:.0f} ms)"
    )
    print(
        f"  publish→receipt  WS p50 {percentile(ws, 50):.1f} ms  p99 {percentile(ws, 99):.1f} ms |"
        f"  SSE p50 {percentile(sse, 50):.1f} ms  p99 {percentile(sse, 99):.1f} ms"
        f"  (WS p50 = {percentile(ws, 50) / raw_p50:.0f}x raw Redis)"
    )
    print(f"  deliveries {expected - lost}/{expected}: lost {lost}, duplicated {duplicated}")
    print(
        f"  CPU: daphne {web_cpu:.1f} s = {web_cpu * 1000 / max(1, expected - lost):.2f} ms per delivery;"
        f" publisher process {result['cpu']:.1f} s = {result['cpu'] * 1000 / max(1, published):.2f} ms per event"
    )
    print("  target: p50 <= 10 ms, p99 <= 50 ms, 0 lost, 0 duplicated")
    return lost == 0 and duplicated == 0


def saturation(host: str, token: str) -> bool:
    from sessions.events import DoneEvent, MessageDeltaEvent
    from sessions.publisher import event_publish

    ok = True
    print(f"{'N':>4} {'deliv':>11} {'WS p50':>8} {'WS p99':>8} {'SSE p50':>8} {'SSE p99':>8} {'pub/s':>7}")
    for n in (1, 10, 100):
        sessions = make_sessions(n)

        def publish(sessions: list[tuple[str, str]] = sessions, n: int = n) -> None:
            def emit(session_id: str, turn_id: str) -> None:
                for _ in range(EVENTS_PER_SESSION):
                    event_publish(session_id, MessageDeltaEvent(delta=repr(time.time()), turn_id=turn_id))
                event_publish(session_id, DoneEvent(turn_id=turn_id))

            with ThreadPoolExecutor(max_workers=min(32, n)) as pool:
                list(pool.map(lambda st: emit(*st), sessions))

        readers = Readers(host, token, sessions)
        elapsed = asyncio.run(readers.run(publish, timeout=120))
        expected, lost, duplicated = readers.check({s: EVENTS_PER_SESSION for s, _ in sessions})
        ws, sse = readers.latencies()
        print(
            f"{n:>4} {expected - lost:>5}/{expected:<5} {percentile(ws, 50):>8.2f} {percentile(ws, 99):>8.2f}"
            f" {percentile(sse, 50):>8.2f} {percentile(sse, 99):>8.2f} {n * (EVENTS_PER_SESSION + 1) / elapsed:>7.0f}"
        )
        ok = ok and lost == 0 and duplicated == 0
    return ok


def make_sessions(n: int) -> list[tuple[str, str]]:
    from django.contrib.auth import get_user_model

    from agents.models import Turn
    from sessions.services import session_create

    user = get_user_model().objects.get(username="bench")
    out = []
    for _ in range(n):
        session = session_create(owner_id=user.pk, mode="lite")
        # A turn no worker runs keeps each SSE stream open until the bench's `done`.
        turn = Turn.objects.create(session=session, mode="lite", message="bench")
        out.append((session.id, str(turn.id)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0, help="events per second per session")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of sustained load")
    parser.add_argument("--threads", type=int, default=8, help="publisher threads")
    parser.add_argument("--saturation", action="store_true", help="the burst rounds instead of the sustained load")
    args = parser.parse_args()
    stack = BenchStack()
    ok = False
    try:
        stack.django_setup()
        host = stack.start_web()
        from django.contrib.auth import get_user_model
        from rest_framework_simplejwt.tokens import RefreshToken

        user = get_user_model().objects.create_user("bench", password="bench-pass-123")
        token = str(RefreshToken.for_user(user).access_token)
        raw = raw_redis_latency(f"redis://127.0.0.1:{stack.redis_port}/0")
        raw_p50 = percentile(raw, 50)
        print("Event fan-out (publisher → Redis pub/sub → daphne → client)")
        print(f"baseline, raw Redis PUBLISH→SUBSCRIBE: p50 {raw_p50:.3f} ms  p99 {percentile(raw, 99):.3f} ms")
        ok = saturation(host, token) if args.saturation else sustained(stack, host, token, args, raw_p50)
        if not ok:
            print("FAIL: deliveries were lost or duplicated")
    finally:
        stack.close(failed=not ok)
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--publisher":
        publisher_main(sys.argv[2:])
    else:
        sys.exit(main())
