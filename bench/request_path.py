"""The request path: an authenticated `GET /api/v1/auth/me` with 8 concurrent clients, next to
the same answer from a minimal ASGI app served by the same daphne, measured in the same run.

Both run under daphne on private servers (SQLite by default; BENCH_DATABASE_URL for
PostgreSQL). Each client keeps its connection alive and sends REQUESTS requests one after
another; prints p50/p99 ms and requests/s for both, the ratio, and each server's CPU time per
request (from /proc: what the server process itself spends, whatever else runs on the machine).
Any non-200 answer makes the run exit non-zero.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stack import BIN, BenchStack, cpu_seconds, percentile, run_bench

CLIENTS = 8
REQUESTS = 100
ROUNDS = 3


async def minimal_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The floor: daphne plus an ASGI callable that checks a bearer token and answers JSON."""
    if scope["type"] != "http":
        return
    headers = dict(scope["headers"])
    ok = headers.get(b"authorization", b"").startswith(b"Bearer ")
    body = json.dumps({"code": 0, "msg": "success", "data": {"id": 1, "username": "bench"}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200 if ok else 401,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def hammer(url: str, token: str) -> tuple[list[float], int, float]:
    import httpx

    latencies: list[float] = []
    failures = 0

    async def client() -> None:
        nonlocal failures
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
            await http.get(url)  # connect and warm up
            for _ in range(REQUESTS):
                started = time.perf_counter()
                response = await http.get(url)
                latencies.append((time.perf_counter() - started) * 1000)
                failures += response.status_code != 200

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return latencies, failures, CLIENTS * REQUESTS / (time.perf_counter() - started)


def body(stack: BenchStack) -> bool:
    host = stack.start_web()
    minimal = stack._start(
        "minimal",
        [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", "{port}", "bench.request_path:minimal_app"],
    )
    pids = {"base": stack.procs[-1].pid, "full": stack.web_pid}
    from django.contrib.auth import get_user_model
    from rest_framework_simplejwt.tokens import RefreshToken

    user = get_user_model().objects.create_user("bench", password="bench-pass-123")
    token = str(RefreshToken.for_user(user).access_token)
    urls = {
        "base": f"http://127.0.0.1:{minimal}/api/v1/auth/me",
        "full": f"http://{host}/api/v1/auth/me",
    }
    # Rounds alternate between the servers, so a change in the machine's load (it is
    # shared) falls on all of them alike.
    results: dict[str, tuple[list[float], int, list[float]]] = {name: ([], 0, []) for name in urls}
    cpu = dict.fromkeys(urls, 0.0)
    for _round in range(ROUNDS):
        for name, url in urls.items():
            before = cpu_seconds(pids[name])
            lat, fail, rate = asyncio.run(hammer(url, token))
            cpu[name] += cpu_seconds(pids[name]) - before
            got = results[name]
            results[name] = (got[0] + lat, got[1] + fail, [*got[2], rate])
    base, base_fail, base_rates = results["base"]
    full, full_fail, full_rates = results["full"]
    base_rate, full_rate = (sum(r) / len(r) for r in (base_rates, full_rates))
    database = "PostgreSQL" if os.environ.get("BENCH_DATABASE_URL", "").startswith("postgres") else "SQLite"
    print(
        f"Request path: GET /api/v1/auth/me (JWT), {CLIENTS} clients x {REQUESTS} requests x {ROUNDS} rounds"
        f" (alternating), daphne, {database}"
    )
    print(
        f"  baseline, minimal ASGI app:  p50 {percentile(base, 50):6.2f} ms  p99 {percentile(base, 99):6.2f} ms"
        f"  {base_rate:6.0f} req/s  server CPU {cpu['base'] * 1000 / (len(base) + CLIENTS * ROUNDS):.2f} ms/req"
    )
    print(
        f"  Anker (Django + DRF + JWT):  p50 {percentile(full, 50):6.2f} ms  p99 {percentile(full, 99):6.2f} ms"
        f"  {full_rate:6.0f} req/s  server CPU {cpu['full'] * 1000 / (len(full) + CLIENTS * ROUNDS):.2f} ms/req"
        f"   = {percentile(full, 50) / percentile(base, 50):.1f}x baseline p50"
    )
    print("  target: p50 <= 5 ms, p99 <= 20 ms")
    if base_fail or full_fail:
        print(f"FAIL: non-200 answers: {full_fail} from Anker, {base_fail} from the baseline")
    return not (base_fail or full_fail)


if __name__ == "__main__":
    sys.exit(run_bench(body))
