"""Agent turns: Anker's own cost per step, and how many turns one worker holds at once.

(a) Overhead per agent step. Agent turns run in this process against a scripted model that
    answers at once, each in a sandbox of the real local backend (a bubblewrap jail with its
    tool API, claimed from a warm pool started first; `--backend attached` uses one host tool
    API process instead, the shortcut of the tests). The model adapter (`LLM.complete`), the
    tool API client (`ToolApiClient._request`) and the wait for the sandbox
    (`SandboxHandle.result`) are wrapped here to time the calls; a step is one model round, and
    its overhead is the wall time between the ends of two model calls minus the time inside
    model and tool API calls and the sandbox wait in between: lease and claim, memory
    checkpoints, event publishing, prompt building, argument checks.

(b) Concurrency. `--sessions` (100) lite sessions keep sending messages to one real Celery
    worker subprocess (`-P threads -c`, `--threads`, 100) whose scripted model takes 1 s per
    answer, for `--duration` (45) seconds. Prints turns completed per minute, the worker's RSS,
    how many turns ran at once, the database connections open meanwhile (on PostgreSQL), and the
    publish → receipt latency of probe events published meanwhile through the same publisher
    into a session read by one WebSocket client through daphne.

`--reach` configures tool rules, an MCP server and a secret per session first (the overhead
must not grow with them); `--overhead-only` skips (b), `--concurrency-only` skips (a);
`--backend attached` runs (a) on one host tool API process instead of local sandboxes.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stack import ROOT, BenchStack, percentile
from tests.support.worker import celery_worker_argv

AGENT_TURNS = 20
STEPS_PER_TURN = 3
SESSIONS = 100
WORKER_THREADS = 100
MODEL_SECONDS = 1.0
DURATION = 45.0
# Threads sending the next messages, like separate users.
SENDERS = 8


def start_toolapi(stack: BenchStack) -> tuple[str, str, Path]:
    from tests.support.toolapi import start_toolapi as launch

    started = launch(stack.tmp / "sandbox-root")
    stack.procs.append(started.proc)
    return started.url, started.token, started.home


class Timer:
    """Wraps a method to add the time spent inside it to `total` and `each` (all threads; turns run
    one at a time); with `only`, just the calls made while it says so."""

    def __init__(
        self,
        owner: type,
        name: str,
        on_exit: Callable[[], None] | None = None,
        only: Callable[[], bool] | None = None,
    ) -> None:
        self.total = 0.0
        self.calls = 0
        self.each: list[float] = []
        self.inside = False
        original = getattr(owner, name)
        timer = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            if only is not None and not only():
                return original(*args, **kwargs)
            started = time.perf_counter()
            timer.inside = True
            try:
                return original(*args, **kwargs)
            finally:
                timer.inside = False
                took = time.perf_counter() - started
                timer.total += took
                timer.calls += 1
                timer.each.append(took)
                if on_exit is not None:
                    on_exit()

        setattr(owner, name, timed)


def configure_reach(stack: BenchStack, owner_id: int) -> list[str]:
    """`--reach`: tool rules (global and the user's), an MCP server over streamable HTTP (a real
    one built on the SDK, on loopback) and a secret: what every turn then loads and applies.
    Returns the names of the secrets each bench session gets."""
    from agents.reach.mcp_servers import mcp_server_create
    from agents.reach.models import ToolRule
    from agents.reach.vault import secret_put
    from tests.bootstrap import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "support" / "mcp_server.py"), "--http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    stack.procs.append(proc)
    deadline = time.monotonic() + 60
    import socket

    while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
        if time.monotonic() > deadline:
            raise RuntimeError("the MCP bench server did not start")
        time.sleep(0.1)
    ToolRule.objects.create(owner=None, pattern="browser_*", action="ask")
    ToolRule.objects.create(owner=None, pattern="mcp_*", action="ask")
    ToolRule.objects.create(owner_id=owner_id, pattern="shell_*", action="allow")
    ToolRule.objects.create(owner_id=owner_id, pattern="file_*", action="allow")
    mcp_server_create(
        owner_id=owner_id, data={"name": "bench", "transport": "http", "url": f"http://127.0.0.1:{port}/mcp"}
    )
    secret_put(owner_id=owner_id, name="BENCH_TOKEN", value="bench-secret-value-123456")
    return ["BENCH_TOKEN"]


def bench_overhead(
    llm: Any, home: Path, owner_id: int, secret_names: list[str] | None = None, *, backend: str = "local"
) -> None:
    from pymongo.synchronous.mongo_client import MongoClient

    from agents.llm import LLM
    from agents.services import chat_send, turn_run
    from sandboxes.handles import SandboxHandle
    from sandboxes.tool_api import ToolApiClient
    from sessions.services import session_create
    from tests.support.llm_server import ToolCall, tool_calls

    # (wall, model total, tool + sandbox wait total, event store total, its calls) at each model call's end
    marks: list[tuple[float, float, float, float, int]] = []
    tools = Timer(ToolApiClient, "_request")
    waits = Timer(SandboxHandle, "result")

    def outside() -> float:
        return tools.total + waits.total

    def point() -> tuple[float, float, float, float, int]:
        return (time.perf_counter(), model.total, outside(), store.total, store.calls)

    model = Timer(LLM, "complete", on_exit=lambda: marks.append(point()))
    # Time inside the event store (every pymongo operation) on the turn's own thread, outside model
    # calls (events published while a model streams are already model time).
    turn_thread = threading.get_ident()
    store = Timer(
        MongoClient, "_retry_internal", only=lambda: threading.get_ident() == turn_thread and not model.inside
    )

    def call(name: str, args: dict[str, Any]) -> Any:
        return tool_calls([ToolCall(name, args)])

    per_step: list[float] = []
    per_turn: list[tuple[float, float, float]] = []
    sandbox_waits: list[float] = []
    in_store: list[float] = []  # of each step's overhead, the time inside event store operations
    store_calls: list[int] = []
    for n in range(AGENT_TURNS + 2):  # the first two warm up (imports, connections)
        steps = [{"description": f"step {i}"} for i in range(STEPS_PER_TURN)]
        plan = {"message": "On it.", "title": "Bench", "goal": "bench", "language": "English", "steps": steps}
        replies = [call("create_plan", plan)]
        for i in range(STEPS_PER_TURN):
            path = f"{home}/bench-{n}-{i}.txt"
            replies += [
                call("shell_exec", {"id": f"b{n}", "exec_dir": str(home), "command": f"echo step-{i}"}),
                call("file_write", {"file": path, "content": "x" * 2000}),
                call("complete_step", {"success": True, "result": "done"}),
            ]
        replies.append(call("deliver_result", {"message": "Done."}))
        llm.push(*replies)
        session = session_create(owner_id=owner_id, mode="agent")
        if secret_names:
            from agents.reach.vault import session_secrets_set

            session_secrets_set(session_id=session.id, owner_id=owner_id, names=secret_names)
        turn = chat_send(session_id=session.id, message="bench")
        assert turn is not None
        marks.clear()
        waited = waits.total
        started = point()
        outcome = turn_run(turn_id=str(turn.id))
        ended = point()
        sandbox_waits.append(waits.total - waited)
        assert outcome == "completed", outcome
        if n < 2:
            continue
        points = [started, *marks]
        for before, after in itertools.pairwise(points):
            overhead = (after[0] - before[0]) - (after[1] - before[1]) - (after[2] - before[2])
            per_step.append(overhead)
            in_store.append(after[3] - before[3])
            store_calls.append(after[4] - before[4])
        wall = ended[0] - started[0]
        per_turn.append((wall, ended[1] - started[1], ended[2] - started[2]))
    rounds = len(per_step) // AGENT_TURNS
    where = "one host tool API (attached)" if backend == "attached" else "a local sandbox each, from the warm pool"
    print(f"(a) agent turns in-process: {AGENT_TURNS} turns x {rounds} model rounds ({STEPS_PER_TURN} plan steps,")
    print(f"    each shell_exec + file_write + complete_step), instant scripted model, {where}")
    print(
        f"    Anker overhead per step (model round): p50 {percentile(per_step, 50) * 1000:.1f} ms"
        f"  p99 {percentile(per_step, 99) * 1000:.1f} ms  max {max(per_step) * 1000:.1f} ms"
    )
    rest = [o - t for o, t in zip(per_step, in_store, strict=True)]
    single = store.each[len(store.each) // 10 :]  # past the warm-up turns
    print(
        f"    of it in the event store: p50 {percentile(in_store, 50) * 1000:.1f} ms"
        f"  p99 {percentile(in_store, 99) * 1000:.1f} ms; {sum(store_calls) / len(store_calls):.1f} operations a step"
        f" (publish inserts, memory checkpoints), each p50 {percentile(single, 50) * 1000:.2f} ms"
    )
    print(
        f"    the rest (Anker's Python, SQL, Redis): p50 {percentile(rest, 50) * 1000:.1f} ms"
        f"  p99 {percentile(rest, 99) * 1000:.1f} ms"
    )
    walls = [w for w, _, _ in per_turn]
    llm_share = sum(m for _, m, _ in per_turn) / sum(walls)
    tool_share = sum(t for _, _, t in per_turn) / sum(walls)
    print(
        f"    per turn: wall p50 {percentile(walls, 50) * 1000:.0f} ms; of it inside model calls {llm_share:.0%}"
        f" (HTTP + SDK to a model that answers at once), inside tool API calls and the sandbox wait"
        f" {tool_share:.0%}, Anker {1 - llm_share - tool_share:.0%}"
    )
    print(
        f"    waiting for the sandbox per turn: p50 {percentile(sandbox_waits[2:], 50) * 1000:.1f} ms"
        f"  max {max(sandbox_waits[2:]) * 1000:.1f} ms (excluded from the overhead)"
    )


def warm_local_pool() -> Path:
    """Starts one local sandbox per turn of (a) into the warm pool, so each turn claims a ready
    one as a deployment with SANDBOX_POOL_SIZE does; returns the agent's home in the jail."""
    from django.conf import settings

    from bench._stack import sandbox_bench_setup
    from sandboxes.backends.local import bwrap_path
    from sandboxes.backends.local.jail import JAIL_HOME
    from sandboxes.services.pool import sandbox_pool_refill

    if bwrap_path() is None:
        raise SystemExit("the local backend needs bubblewrap (apt-get install bubblewrap), or use --backend attached")
    sandbox_bench_setup()
    settings.SANDBOX_POOL_SIZE = AGENT_TURNS + 2
    started = sandbox_pool_refill()
    settings.SANDBOX_POOL_SIZE = 0  # no refills queued by the claims: nothing consumes them here
    print(f"(a) {started} local sandboxes started into the warm pool")
    return Path(JAIL_HOME)


def local_sandboxes_destroyed() -> None:
    from bench._stack import sandbox_leftovers_removed
    from sandboxes.models import Sandbox
    from sandboxes.services import sandbox_destroy

    for sandbox_id in Sandbox.objects.values_list("pk", flat=True):
        sandbox_destroy(sandbox_id=str(sandbox_id))
    sandbox_leftovers_removed("local")


def rss_of_tree(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        return int(proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True)))
    except psutil.NoSuchProcess:
        return 0


async def probe_latency(
    host: str, token: str, session_id: str, stop: threading.Event, out: list[float], cursor: dict[str, int]
) -> None:
    """Read the probe session live; after a reconnect, resume after the last seq seen (a replayed
    event is history, not live latency)."""
    import websockets

    url = f"ws://{host}/api/v1/ws/sessions/{session_id}?after={cursor['seq']}&token={token}"
    async with websockets.connect(url) as ws:
        while not stop.is_set():
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 1.0))
            except TimeoutError:
                continue
            if frame["event"] == "message_delta":
                out.append((time.time() - float(frame["data"]["delta"])) * 1000)
                cursor["seq"] = int(frame["data"]["seq"])


def pg_connections() -> tuple[int, int] | None:
    """On PostgreSQL: (connections open to this database, of them the worker's), else None."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE application_name = 'anker-worker')"
            " FROM pg_stat_activity WHERE datname = current_database()"
        )
        total, worker = cursor.fetchone()
    return int(total), int(worker)


def bench_concurrency(
    stack: BenchStack,
    llm: Any,
    host: str,
    owner_id: int,
    *,
    sessions_count: int = SESSIONS,
    threads: int = WORKER_THREADS,
    duration: float = DURATION,
) -> int:
    """Returns how many turns failed plus how many messages could not be sent."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework_simplejwt.tokens import RefreshToken

    from agents.models import Turn, TurnStatus
    from agents.services import chat_send
    from anker_project.redis_client import get_redis
    from sessions.events import MessageDeltaEvent
    from sessions.publisher import event_publish
    from sessions.services import session_create
    from tests.support.llm_server import slow, text

    get_redis().delete("turns")  # part (a) ran its turns in-process; their queued copies are moot
    llm.reset()
    llm.set_default(slow(text("An answer of a few words, streamed.", chunk_size=8), MODEL_SECONDS))
    log = stack.tmp / "worker.log"
    worker = subprocess.Popen(
        celery_worker_argv(
            name=f"bench-{secrets.token_hex(3)}@%h",
            queues="turns",
            concurrency=threads,
            loglevel="WARNING",
            heartbeat=False,
        ),
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stack.procs.append(worker)
    # Ready when it consumes: a warm-up turn completes.
    warm = session_create(owner_id=owner_id, mode="lite")
    first = chat_send(session_id=warm.id, message="warm up")
    assert first is not None
    deadline = time.monotonic() + 90
    while Turn.objects.get(pk=first.pk).status != TurnStatus.COMPLETED:
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the worker did not run a turn: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)

    user = get_user_model().objects.get(pk=owner_id)
    token = str(RefreshToken.for_user(user).access_token)
    probe = session_create(owner_id=owner_id, mode="lite")
    probe_turn = Turn.objects.create(session=probe, mode="lite", message="probe")
    latencies: list[float] = []
    stop = threading.Event()
    reader_errors: list[str] = []
    cursor = {"seq": 0}

    def read() -> None:
        while not stop.is_set():  # a dropped socket is counted, reported and reconnected
            try:
                asyncio.run(probe_latency(host, token, probe.id, stop, latencies, cursor))
            except Exception as exc:
                reader_errors.append(repr(exc))
                time.sleep(0.2)

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(1.0)

    load_before = os.getloadavg()
    sessions = [session_create(owner_id=owner_id, mode="lite") for _ in range(sessions_count)]
    connections_peak: tuple[int, int] | None = None
    pending: dict[str, Any] = {}
    completed = failed = 0
    running_peak = 0
    rss: list[int] = []
    started = time.monotonic()
    last_sample = 0.0
    import psutil

    psutil.cpu_percent(None)  # starts the machine-wide CPU measurement
    worker_cpu = psutil.Process(worker.pid).cpu_times()
    senders = ThreadPoolExecutor(max_workers=SENDERS)  # the next messages go out in parallel, like separate users

    send_errors: list[str] = []
    resend: set[str] = set()

    def send_next(session_id: str) -> None:
        try:
            turn = chat_send(session_id=session_id, message=f"question {secrets.token_hex(2)}")
            assert turn is not None
            pending[session_id] = turn.pk
        except Exception as exc:  # counted and printed; the session tries again
            send_errors.append(repr(exc))
            resend.add(session_id)
        finally:
            connection.close()

    # The first messages go out from the senders too: sent one after another, the first turns
    # ended before the last were sent, and fewer turns than sessions were ever in flight.
    list(senders.map(send_next, [session.id for session in sessions]))
    while time.monotonic() - started < duration:
        event_publish(probe.id, MessageDeltaEvent(delta=repr(time.time()), turn_id=str(probe_turn.id)))
        now = time.monotonic()
        if now - last_sample >= 0.2:
            last_sample = now
            rss.append(rss_of_tree(worker.pid))
            statuses = dict(Turn.objects.filter(pk__in=list(pending.values())).values_list("pk", "status"))
            running_peak = max(running_peak, sum(1 for s in statuses.values() if s == TurnStatus.RUNNING))
            open_now = pg_connections()
            if open_now is not None:
                before = connections_peak or (0, 0)
                connections_peak = (max(before[0], open_now[0]), max(before[1], open_now[1]))
            for session_id, turn_pk in list(pending.items()):
                status = statuses.get(turn_pk)
                if status in (TurnStatus.COMPLETED, TurnStatus.FAILED, TurnStatus.CANCELLED):
                    completed += status == TurnStatus.COMPLETED
                    failed += status != TurnStatus.COMPLETED
                    del pending[session_id]
                    senders.submit(send_next, session_id)
            for session_id in list(resend):
                resend.discard(session_id)
                senders.submit(send_next, session_id)
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    machine_cpu = psutil.cpu_percent(None)
    worker_after = psutil.Process(worker.pid).cpu_times()
    worker_share = (worker_after.user + worker_after.system - worker_cpu.user - worker_cpu.system) / elapsed
    senders.shutdown(wait=True)
    stop.set()
    reader.join(timeout=10)
    per_minute = completed / elapsed * 60
    done = list(
        Turn.objects.filter(session__in=sessions, status=TurnStatus.COMPLETED).values_list(
            "created_at", "started_at", "finished_at"
        )
    )
    queued = [(s - c).total_seconds() for c, s, _ in done]
    ran = [(f - s).total_seconds() for _, s, f in done]
    ideal = sessions_count / (MODEL_SECONDS + 0.0) * 60
    load_after = os.getloadavg()
    print(
        f"(b) {sessions_count} lite sessions in a closed loop for {elapsed:.0f} s, one worker"
        f" (-P threads -c {threads}), model {MODEL_SECONDS:.0f} s per answer;"
        f" load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    print(
        f"    turns completed: {completed} ({per_minute:.0f}/min; {failed} failed); the model alone would allow"
        f" {ideal:.0f}/min; at most {running_peak} turns were running at once"
    )
    errors = Counter(
        Turn.objects.filter(session__in=sessions, status=TurnStatus.FAILED).values_list("error", flat=True)
    )
    for error, count in errors.most_common(2):
        print(f"    {count} turns failed with: {error[:150]}")
    print(f"    {len(send_errors)} chat_send calls of the driver failed", end="")
    print(f", e.g. {send_errors[0][:120]}" if send_errors else "")
    if connections_peak is not None:
        print(
            f"    PostgreSQL connections to the bench database: peak {connections_peak[0]} in all"
            f" (worker, daphne, this driver), peak {connections_peak[1]} named anker-worker"
        )
    print(
        f"    worker RSS: start {rss[0] / 2**20:.0f} MiB, peak {max(rss) / 2**20:.0f} MiB"
        f" ({(max(rss) - rss[0]) / 2**20 / max(1, running_peak):.1f} MiB per concurrent turn above idle)"
    )
    print(
        f"    per turn: queued p50 {percentile(queued, 50):.2f} s p99 {percentile(queued, 99):.2f} s;"
        f" running p50 {percentile(ran, 50):.2f} s p99 {percentile(ran, 99):.2f} s"
        f" (of which {MODEL_SECONDS:.0f} s model)"
    )
    print(
        f"    probe events publish→WS receipt meanwhile: p50 {percentile(latencies, 50):.1f} ms"
        f"  p99 {percentile(latencies, 99):.1f} ms  (n={len(latencies)})"
    )
    if reader_errors:
        web_errors = [ln for ln in (stack.tmp / "web.out").read_text(errors="replace").splitlines() if "Error" in ln]
        print(
            f"    the WS reader was dropped {len(reader_errors)} times ({reader_errors[0][:70]});"
            f" the web server's last errors: {web_errors[-2:]}"
        )
    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
    # One session's cycle: waiting in the queue, running, and the driver's reaction time
    # (it polls every 0.2 s and sends the next messages from SENDERS threads).
    cycle = sessions_count / ((completed + failed) / elapsed)
    mean_queued, mean_ran = sum(queued) / len(queued), sum(ran) / len(ran)
    parts = {
        "the worker's own time per turn (CPU: 2 cores shared with Redis, Mongo, daphne, this driver)": mean_ran
        - MODEL_SECONDS,
        "dispatch (waiting in the turns queue)": mean_queued,
        "this benchmark's driver (polling every 0.2 s, then chat_send)": cycle - mean_queued - mean_ran,
    }
    print(
        f"    one worker held up to {running_peak} concurrent turns ({threads} threads);"
        f" on average {completed / elapsed * mean_ran:.0f} were running,"
        f" {completed / elapsed * MODEL_SECONDS:.0f} of them waiting on the model"
    )
    print(
        f"    per session cycle {cycle:.2f} s = model {MODEL_SECONDS:.2f} s + "
        + " + ".join(f"{seconds:.2f} s {name.split(' (')[0]}" for name, seconds in parts.items())
    )
    print(
        f"    CPU meanwhile: machine {machine_cpu:.0f}% of {psutil.cpu_count()} cores;"
        f" the worker process used {worker_share:.2f} cores"
    )
    print(f"    limited by: {max(parts, key=lambda k: parts[k])}")
    return failed + len(send_errors)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reach", action="store_true", help="(a) with tool rules, an MCP server and a secret")
    parser.add_argument("--backend", choices=("local", "attached"), default="local", help="(a)'s sandboxes")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--overhead-only", action="store_true", help="skip (b)")
    only.add_argument("--concurrency-only", action="store_true", help="skip (a)")
    parser.add_argument("--sessions", type=int, default=SESSIONS, help="(b): lite sessions sending messages")
    parser.add_argument("--threads", type=int, default=WORKER_THREADS, help="(b): the worker's threads (-c)")
    parser.add_argument("--duration", type=float, default=DURATION, help="(b): seconds of the closed loop")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    stack = BenchStack()
    failed = True
    try:
        from tests.support.llm_server import ScriptedLLM

        llm = ScriptedLLM().start()
        backend = args.backend
        os.environ.update(
            LLM_PROVIDER="compatible",
            API_BASE=llm.base_url,
            API_KEY=llm.api_key,
            MODEL_NAME="scripted-model",
            SEARCH_PROVIDER="",
            TURN_HEARTBEAT_SECONDS="5",
            MCP_ALLOW_PRIVATE_TARGETS="true",
        )
        if backend == "attached":
            url, token, home = start_toolapi(stack)
            os.environ.update(
                SANDBOX_BACKEND="attached",
                SANDBOX_ATTACHED_TOOLAPI_URL=url,
                SANDBOX_ATTACHED_TOKEN=token,
                SANDBOX_ATTACHED_HOME=str(home),
                SANDBOX_ATTACHED_CDP_URL="",
            )
        else:
            os.environ.update(SANDBOX_BACKEND="local", SANDBOX_LOCAL_DESKTOP="off")
        stack.django_setup()
        if backend == "local" and not args.concurrency_only:
            home = warm_local_pool()
        host = stack.start_web()
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.create_user("bench", password="bench-pass-123")
        if not args.concurrency_only:
            reach = configure_reach(stack, user.pk) if args.reach else None
            if reach:
                print("(a) with --reach: tool rules, an MCP server (streamable HTTP) and a secret per session")
            bench_overhead(llm, home, user.pk, reach, backend=backend)
            if backend == "local":
                local_sandboxes_destroyed()
        failures = 0
        if not args.overhead_only:
            failures = bench_concurrency(
                stack, llm, host, user.pk, sessions_count=args.sessions, threads=args.threads, duration=args.duration
            )
        llm.stop()
        failed = failures > 0
        if failed:
            print(f"FAIL: {failures} turns failed or messages could not be sent")
    finally:
        stack.close(failed=failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
