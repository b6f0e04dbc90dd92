"""Event fan-out: publish → receipt latency over WebSocket and SSE, next to raw Redis pub/sub.

Every mode runs against daphne on private servers and prints the raw Redis PUBLISH→SUBSCRIBE
latency measured in the same run. Readers are one WebSocket and one SSE reader (the chat
stream resumed with `event_id`) per session; a publisher *process* (as a worker would be)
offers R events/s to every session for D seconds through the real publisher (what it cannot
publish in time is not published: the rate it reached is printed beside the rate offered).
Latency is publish → receipt, from the moment the publish call started.

- sustained (default): S sessions (100) × R events/s (20) for D s (60). Prints p50/p99, the
  rate reached, lost / duplicated deliveries and the CPU per delivery and per event.
- idle (`--idle N`): N idle authenticated WebSockets, each on a quiet session of its own, held
  by a separate process, connect; then S sessions (10) stream as in the sustained mode. The
  same streaming is measured before they connect and after they closed; both runs pooled are
  the baseline. Also prints the time to connect them, daphne's memory per idle socket,
  daphne's and the event store's CPU while they connect and while they only sit there, and
  each phase's event-store commands by kind and caller (daphne and the publisher count
  them: `bench/_store_ops.py`). The open-file limit is raised for them.
- saturation (`--saturation`): the offered load over S sessions (20) rises step by step
  (`--step-seconds` each) until a step breaks: the publisher falls short of 95 % of the offered
  rate, or a reader does not keep up (receipt p99 above `--keep-up-ms`). Prints each step's
  rates, latencies and the CPU of every process, then the highest rate at which every reader
  kept up, and where and why the next step broke.
- burst (`--burst`): for 1, 10, 100 sessions, publisher threads emit 20 events per session as
  fast as they can; latency and events/s (the rounds the issue's "before" numbers come from).

Any lost or duplicated delivery makes the run exit non-zero.

    python bench/fanout.py [--sessions 100] [--rate 20] [--duration 60] [--publishers 1]
    python bench/fanout.py --idle 1000 [--sessions 10] [--duration 15]
    STREAM_POLL_SECONDS=600 python bench/fanout.py --idle 200   # the hub's log checks, nearly off
    python bench/fanout.py --saturation [--sessions 20] [--step-seconds 6] [--keep-up-ms 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _store_ops
from bench._stack import BenchStack, cpu_seconds, machine_busy_seconds, percentile, raise_nofile_limit, run_bench

EVENTS_PER_SESSION = 20
SATURATION_STEPS = (50, 100, 250, 500, 1000, 2000, 3000, 5000)  # events/s offered in all
KEPT_UP_SHARE = 0.95


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
    """A publisher process: offers `rate` events/s to each session for `duration` s, then `done`."""
    import django

    from bench import _store_ops

    _store_ops.install()
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
            if now > start + duration:
                break  # offered for `duration` s; what did not fit is not published
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
    print(json.dumps({"elapsed": elapsed, "lags": lags, "cpu": cpu}))


@dataclass
class Run:
    """One measured streaming run."""

    sessions: int
    offered: float  # events/s in all
    published: int
    elapsed: float  # the publishers' wall time
    lags: list[float]
    expected: int
    lost: int
    duplicated: int
    ws: list[float]
    sse: list[float]
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds over the run, by process
    cores: dict[str, float] = field(default_factory=dict)  # the same per second of the run

    @property
    def achieved(self) -> float:
        return self.published / self.elapsed

    @property
    def whole(self) -> bool:
        return self.lost == 0 and self.duplicated == 0

    def latency(self, which: str = "all") -> list[float]:
        return self.ws + self.sse if which == "all" else getattr(self, which)


def measure(stack: BenchStack, host: str, token: str, n: int, rate: float, duration: float, args: Any) -> Run:
    """n fresh sessions, 1 WS + 1 SSE reader each, `rate` events/s offered to each for `duration` s."""
    sessions = make_sessions(n)
    publishers = max(1, min(args.publishers, n))
    results: list[dict[str, Any]] = []

    def publish_part(part: list[tuple[str, str]]) -> None:
        spec = {"sessions": part, "rate": rate, "duration": duration, "threads": min(args.threads, len(part))}
        proc = subprocess.run(
            [sys.executable, __file__, "--publisher", json.dumps(spec)], capture_output=True, text=True, env=os.environ
        )
        if proc.returncode != 0:
            raise RuntimeError(f"the publisher failed: {proc.stderr[-2000:]}")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))

    def publish() -> None:
        with ThreadPoolExecutor(publishers) as pool:
            list(pool.map(publish_part, [sessions[i::publishers] for i in range(publishers)]))

    watched = {name: stack.pids[name] for name in ("web", "mongo", "redis")} | {"readers": os.getpid()}
    before = {name: cpu_seconds(pid) for name, pid in watched.items()}
    machine_before, wall_started = machine_busy_seconds(), time.perf_counter()
    readers = Readers(host, token, sessions)
    asyncio.run(readers.run(publish, timeout=duration + 300))
    wall = time.perf_counter() - wall_started
    cpu = {name: cpu_seconds(pid) - before[name] for name, pid in watched.items()}
    cpu["machine"] = machine_busy_seconds() - machine_before
    from sessions import eventlog

    stored = {s: len(eventlog.events_after(s, 0, limit=1_000_000)) - 1 for s, _ in sessions}  # minus `done`
    expected, lost, duplicated = readers.check(stored)
    ws, sse = readers.latencies()
    elapsed = max(r["elapsed"] for r in results)
    cores = {name: seconds / wall for name, seconds in cpu.items()}
    cpu["publisher"] = sum(r["cpu"] for r in results)
    cores["publisher"] = cpu["publisher"] / elapsed
    lags = [lag for r in results for lag in r["lags"]]
    return Run(n, n * rate, sum(stored.values()), elapsed, lags, expected, lost, duplicated, ws, sse, cpu, cores)


def print_latency(label: str, run: Run, baseline: float | None = None) -> None:
    ws, sse = run.ws, run.sse
    ratio = f"  (WS p50 = {percentile(ws, 50) / baseline:.0f}x raw Redis)" if baseline else ""
    print(
        f"  {label}WS p50 {percentile(ws, 50):.1f} ms  p99 {percentile(ws, 99):.1f} ms |"
        f"  SSE p50 {percentile(sse, 50):.1f} ms  p99 {percentile(sse, 99):.1f} ms{ratio}"
    )


def sustained(stack: BenchStack, host: str, token: str, args: argparse.Namespace, raw_p50: float) -> bool:
    run = measure(stack, host, token, args.sessions, args.rate, args.duration, args)
    print(
        f"sustained: {args.sessions} sessions x {args.rate:g} events/s for {args.duration:g} s,"
        f" 1 WS + 1 SSE reader each, {args.publishers} publisher process(es) with {args.threads} threads"
    )
    print(
        f"  offered {run.offered:.0f} events/s, published {run.achieved:.0f} events/s"
        f" ({run.achieved / run.offered:.0%}; publisher behind schedule p99"
        f" {percentile(run.lags, 99) * 1000 if run.lags else 0:.0f} ms)"
    )
    print_latency("publish→receipt  ", run, raw_p50)
    print(f"  deliveries {run.expected - run.lost}/{run.expected}: lost {run.lost}, duplicated {run.duplicated}")
    web_cpu, publisher_cpu = run.cpu["web"], run.cpu["publisher"]
    print(
        f"  CPU: daphne {web_cpu:.1f} s = {web_cpu * 1000 / max(1, run.expected - run.lost):.2f} ms per delivery;"
        f" publisher {publisher_cpu:.1f} s = {publisher_cpu * 1000 / max(1, run.published):.2f} ms per event"
    )
    print("  target: p50 <= 10 ms, p99 <= 50 ms, 0 lost, 0 duplicated")
    return run.whole


def cores_text(run: Run) -> str:
    c = run.cores
    return (
        f"publisher {c['publisher']:.2f}, daphne {c['web']:.2f}, event store {c['mongo']:.2f},"
        f" Redis {c['redis']:.2f}, the readers {c['readers']:.2f}; machine {c['machine']:.2f} of {os.cpu_count()}"
    )


def saturation(stack: BenchStack, host: str, token: str, args: argparse.Namespace) -> bool:
    n = args.sessions
    print(
        f"saturation: {n} sessions, 1 WS + 1 SSE reader each, {args.step_seconds:g} s a step,"
        f" {args.publishers} publisher process(es) x {args.threads} threads;"
        f" a reader keeps up while receipt p99 <= {args.keep_up_ms:g} ms"
    )
    print(f"{'offered':>8} {'published':>10} {'WS p50':>8} {'WS p99':>8} {'SSE p50':>8} {'SSE p99':>8}  CPU cores")
    ok, kept_up, broke = True, None, None
    for offered in SATURATION_STEPS:
        run = measure(stack, host, token, n, offered / n, args.step_seconds, args)
        ok = ok and run.whole
        p99 = percentile(run.latency(), 99)
        print(
            f"{offered:>8} {run.achieved:>10.0f} {percentile(run.ws, 50):>8.1f} {percentile(run.ws, 99):>8.1f}"
            f" {percentile(run.sse, 50):>8.1f} {percentile(run.sse, 99):>8.1f}  {cores_text(run)}",
            flush=True,
        )
        if not run.whole:
            print(f"  lost {run.lost}, duplicated {run.duplicated} of {run.expected} deliveries")
        publisher_short = run.achieved < KEPT_UP_SHARE * offered
        readers_behind = p99 > args.keep_up_ms
        if not (publisher_short or readers_behind):
            kept_up = run
            continue
        broke = (run, publisher_short, readers_behind)
        break
    if kept_up is not None:
        print(
            f"every reader kept up at {kept_up.achieved:.0f} events/s published"
            f" ({kept_up.offered:.0f} offered; {2 * n} readers, {2 * kept_up.achieved:.0f} deliveries/s;"
            f" receipt p50 {percentile(kept_up.latency(), 50):.1f} ms, p99 {percentile(kept_up.latency(), 99):.1f} ms)"
        )
    else:
        print("no step kept up: not even the first")
    if broke is None:
        print(f"no step broke up to {SATURATION_STEPS[-1]} events/s offered")
    else:
        run, publisher_short, readers_behind = broke
        print(f"breaks at {run.offered:.0f} events/s offered: {why_it_broke(run, publisher_short, readers_behind)}")
    print("  target: >= 5,000 events/s with every reader keeping up")
    return ok


def why_it_broke(run: Run, publisher_short: bool, readers_behind: bool) -> str:
    names = {"publisher": "the publisher process", "web": "daphne", "mongo": "the event store", "redis": "Redis"}
    why = []
    if publisher_short:
        why.append(f"the publisher reached only {run.achieved / run.offered:.0%} of the offered rate")
    if readers_behind:
        why.append(f"readers fell behind (receipt p99 {percentile(run.latency(), 99):.0f} ms)")
    busiest = max(names, key=lambda name: run.cores[name])
    ours = sum(run.cores[name] for name in (*names, "readers"))
    cores = os.cpu_count() or 1
    if run.cores[busiest] >= 0.85:
        limit = f"{names[busiest]} used {run.cores[busiest]:.2f} cores: one Python process runs on one core at a time"
    elif run.cores["machine"] >= 0.9 * cores:
        limit = (
            f"the machine's {cores} cores were busy ({run.cores['machine']:.2f}), this run's processes got"
            f" {ours:.2f} of them (the busiest, {names[busiest]}, {run.cores[busiest]:.2f}): other work took the rest"
        )
    else:
        limit = f"no process was at a core's limit (busiest: {names[busiest]}, {run.cores[busiest]:.2f}): a wait"
    return f"{' and '.join(why)}; {limit}"


def start_idle_holder(host: str, token: str, sessions: list[str]) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    spec = json.dumps({"host": host, "token": token, "sessions": sessions})
    proc = subprocess.Popen(
        [sys.executable, __file__, "--idle-holder", spec],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError("the idle WebSockets' holder failed before it connected them")
    return proc, json.loads(line)


def idle_holder_main(argv: list[str]) -> None:
    """The idle sockets' process: connects them, reports, holds them until stdin closes, reports."""
    import websockets

    spec = json.loads(argv[0])
    host, token, sessions = spec["host"], spec["token"], spec["sessions"]
    raise_nofile_limit(len(sessions) + 256)

    async def main() -> None:
        gate = asyncio.Semaphore(32)  # handshakes in flight at once
        frames = 0
        retries = 0

        async def connect(session_id: str) -> Any:
            nonlocal retries
            url = f"ws://{host}/api/v1/ws/sessions/{session_id}?after=0&token={token}"
            async with gate:
                for _attempt in range(5):
                    try:
                        return await websockets.connect(url, open_timeout=120, max_queue=None)
                    except (OSError, websockets.exceptions.WebSocketException):
                        retries += 1  # a handshake dropped under load: try again, as a browser would
                raise RuntimeError(f"an idle WebSocket of {session_id} did not connect 5 times")

        async def hold(ws: Any) -> None:
            nonlocal frames
            async for _frame in ws:
                frames += 1

        started = time.perf_counter()
        sockets = await asyncio.gather(*(connect(s) for s in sessions))
        seconds = time.perf_counter() - started
        holders = [asyncio.create_task(hold(ws)) for ws in sockets]
        print(json.dumps({"connected": len(sockets), "seconds": seconds, "retries": retries}), flush=True)
        await asyncio.to_thread(sys.stdin.read)  # until the bench closes our stdin
        dropped = sum(task.done() for task in holders)  # a socket whose server closed it
        for ws in sockets:
            await ws.close()
        await asyncio.gather(*holders, return_exceptions=True)
        print(json.dumps({"frames": frames, "dropped": dropped}), flush=True)

    asyncio.run(main())


class StoreOps:
    """The event-store commands of the run's processes (`_store_ops.py`), phase by phase."""

    def __init__(self, stack: BenchStack) -> None:
        self.where = Path(os.environ[_store_ops.ENV])
        self.roles = {stack.pids["web"]: "daphne"}
        self.mark()

    def mark(self) -> None:
        self.since, self.started = _store_ops.snapshot(self.where, self.roles), time.perf_counter()

    def report(self, label: str) -> None:
        seconds = time.perf_counter() - self.started
        _store_ops.report(label, _store_ops.delta(_store_ops.snapshot(self.where, self.roles), self.since), seconds)
        self.mark()


def idle(stack: BenchStack, host: str, token: str, args: argparse.Namespace) -> bool:
    import psutil

    from sessions.models import Session

    n, count = args.sessions, args.idle
    user = bench_user()
    made = Session.objects.bulk_create([Session(owner_id=user.pk, mode="lite") for _ in range(count)])
    web = psutil.Process(stack.pids["web"])
    print(
        f"idle WebSockets: {n} sessions x {args.rate:g} events/s for {args.duration:g} s, 1 WS + 1 SSE reader each;"
        f" baseline = the same before the {count} idle sockets connect and after they closed"
    )
    ops = StoreOps(stack)
    before = measure(stack, host, token, n, args.rate, args.duration, args)
    print_latency("baseline (before)  ", before)
    ops.report("while the baseline (before) streamed")
    rss_before = web.memory_info().rss
    cpu, mongo_cpu, started = cpu_seconds(web.pid), cpu_seconds(stack.pids["mongo"]), time.perf_counter()
    holder, connected = start_idle_holder(host, token, [s.id for s in made])
    try:
        grown = web.memory_info().rss - rss_before
        took = time.perf_counter() - started
        print(
            f"  {connected['connected']} idle authenticated WebSockets connected in {connected['seconds']:.1f} s"
            f" ({connected['retries']} handshakes retried); daphne RSS +{grown / 2**20:.0f} MiB"
            f" = {grown / count / 1024:.0f} KiB per idle socket; while they connected: daphne"
            f" {(cpu_seconds(web.pid) - cpu) / took:.2f} cores, the event store"
            f" {(cpu_seconds(stack.pids['mongo']) - mongo_cpu) / took:.2f} cores",
            flush=True,
        )
        ops.report("while they connected")
        cpu, mongo_cpu, quiet = cpu_seconds(web.pid), cpu_seconds(stack.pids["mongo"]), 10.0
        time.sleep(quiet)
        print(
            f"  while they only sit there ({quiet:g} s): daphne {(cpu_seconds(web.pid) - cpu) / quiet:.2f} cores,"
            f" the event store {(cpu_seconds(stack.pids['mongo']) - mongo_cpu) / quiet:.2f} cores"
            f" (the hub checks the log for all their sessions in one query every STREAM_POLL_SECONDS)"
        )
        ops.report("while they only sat there")
        loaded = measure(stack, host, token, n, args.rate, args.duration, args)
        print_latency(f"with {count} idle   ", loaded)
        ops.report(f"while {n} sessions streamed beside them")
    finally:
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.close()
        ended = json.loads(holder.stdout.readline() or "{}")
        holder.wait(timeout=120)
    ops.mark()
    after = measure(stack, host, token, n, args.rate, args.duration, args)
    print_latency("baseline (after)   ", after)
    ops.report("while the baseline (after) streamed")
    base = before.latency() + after.latency()
    with_idle = loaded.latency()
    print(
        f"  all readers: with idle sockets p50 {percentile(with_idle, 50):.1f} ms,"
        f" p99 {percentile(with_idle, 99):.1f} ms;"
        f" baseline p50 {percentile(base, 50):.1f} ms, p99 {percentile(base, 99):.1f} ms"
        f" -> p99 {percentile(with_idle, 99) / percentile(base, 99):.2f}x baseline"
    )
    for label, run in (("before", before), ("with idle", loaded), ("after", after)):
        print(
            f"  {label}: published {run.achieved:.0f}/{run.offered:.0f} events/s, deliveries"
            f" {run.expected - run.lost}/{run.expected} (lost {run.lost}, duplicated {run.duplicated});"
            f" CPU cores: {cores_text(run)}"
        )
    print(
        f"  idle sockets: {ended.get('frames', '?')} frames received, {ended.get('dropped', '?')} closed by the server"
    )
    print("  target: p99 within 1.5x the baseline")
    return before.whole and loaded.whole and after.whole and ended.get("dropped") == 0


def burst(host: str, token: str) -> bool:
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


def bench_user() -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="bench")


def make_sessions(n: int) -> list[tuple[str, str]]:
    from agents.models import Turn
    from sessions.services import session_create

    user = bench_user()
    out = []
    for _ in range(n):
        session = session_create(owner_id=user.pk, mode="lite")
        # A turn no worker runs keeps each SSE stream open until the bench's `done`.
        turn = Turn.objects.create(session=session, mode="lite", message="bench")
        out.append((session.id, str(turn.id)))
    return out


def body(stack: BenchStack, args: argparse.Namespace) -> bool:
    host = stack.start_web()
    from django.contrib.auth import get_user_model
    from rest_framework_simplejwt.tokens import RefreshToken

    user = get_user_model().objects.create_user("bench", password="bench-pass-123")
    token = str(RefreshToken.for_user(user).access_token)
    raw = raw_redis_latency(f"redis://127.0.0.1:{stack.redis_port}/0")
    raw_p50 = percentile(raw, 50)
    print("Event fan-out (publisher → Redis pub/sub → daphne → client)")
    print(f"baseline, raw Redis PUBLISH→SUBSCRIBE: p50 {raw_p50:.3f} ms  p99 {percentile(raw, 99):.3f} ms")
    if args.idle:
        ok = idle(stack, host, token, args)
    elif args.saturation:
        ok = saturation(stack, host, token, args)
    elif args.burst:
        ok = burst(host, token)
    else:
        ok = sustained(stack, host, token, args, raw_p50)
    if not ok:
        print("FAIL: deliveries were lost or duplicated (or idle sockets were closed)")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, help="streaming sessions (100; --idle 10; --saturation 20)")
    parser.add_argument("--rate", type=float, default=20.0, help="events per second per session")
    parser.add_argument("--duration", type=float, help="seconds of sustained load (60; --idle 15)")
    parser.add_argument("--threads", type=int, default=8, help="threads per publisher process")
    parser.add_argument("--publishers", type=int, default=1, help="publisher processes (as several workers)")
    parser.add_argument("--idle", type=int, default=0, metavar="N", help="N idle WebSockets, then stream")
    parser.add_argument("--saturation", action="store_true", help="raise the offered rate until a step breaks")
    parser.add_argument("--step-seconds", type=float, default=6.0, help="--saturation: seconds a step")
    parser.add_argument("--keep-up-ms", type=float, default=500.0, help="--saturation: receipt p99 that keeps up")
    parser.add_argument("--burst", action="store_true", help="the burst rounds (1, 10, 100 sessions)")
    args = parser.parse_args()
    args.sessions = args.sessions or (10 if args.idle else 20 if args.saturation else 100)
    args.duration = args.duration or (15.0 if args.idle else 60.0)
    if args.idle:
        # daphne is started from this process and inherits its limit: a socket is a descriptor.
        limit = raise_nofile_limit(4 * args.idle + 1024)
        if limit < 2 * args.idle + 256:
            print(f"the open-file limit is {limit}: too low for {args.idle} idle WebSockets (raise the hard limit)")
            return 1
        # daphne and the publishers count their event-store commands (bench/_store_ops.py).
        counts = tempfile.mkdtemp(prefix="anker-bench-store-ops-")
        os.environ[_store_ops.ENV] = counts
        try:
            return run_bench(lambda stack: body(stack, args))
        finally:
            shutil.rmtree(counts, ignore_errors=True)
    return run_bench(lambda stack: body(stack, args))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--publisher":
        publisher_main(sys.argv[2:])
    elif len(sys.argv) > 2 and sys.argv[1] == "--idle-holder":
        idle_holder_main(sys.argv[2:])
    else:
        sys.exit(main())
