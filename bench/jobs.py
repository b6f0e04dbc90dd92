"""Jobs API under load: submit N lite jobs (default 1,000) over HTTP against a scripted fast
model, run them on a real worker (`-Q jobs,default`), receive their webhooks locally.

Prints submission latency p50/p99 next to its baseline, jobs completed per minute, and the time
from a job's end (`finished_at`) to its webhook's receipt p50/p99.

The baseline is a bare authenticated DRF view that inserts one row (bench/bare_urls.py), on the
same daphne with the same middleware and API-key authentication: each client alternates a job
submission and a baseline request, so both meet the same load (the worker running the jobs
submitted so far). The clock starts once the worker answers a ping. BENCH_DATABASE_URL runs it
on PostgreSQL (an empty database). Exits non-zero if a job does not succeed or a webhook is lost.

    .venv/bin/python bench/jobs.py [N]
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._stack import BenchStack, cpu_seconds, machine_busy_seconds, percentile, wait_for_worker  # noqa: E402
from tests.support.worker import celery_worker_argv  # noqa: E402

SUBMITTERS = 8
WORKER_THREADS = "16"


class Receipts:
    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.lock = threading.Lock()
        self.all_in = threading.Event()
        self.expected = 0


def start_receiver(receipts: Receipts) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            now = time.time()
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            with receipts.lock:
                receipts.at.setdefault(body["job_id"], now)
                if len(receipts.at) >= receipts.expected:
                    receipts.all_in.set()
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    stack = BenchStack()
    failed = True
    try:
        from tests.support.llm_server import ScriptedLLM, text

        llm = ScriptedLLM().start()
        llm.set_default(text("ok", usage=(20, 1)))
        os.environ.update(
            LLM_PROVIDER="compatible",
            API_BASE=llm.base_url,
            API_KEY=llm.api_key,
            MODEL_NAME="scripted-model",
            WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
        )
        stack.django_setup()
        from django.contrib.auth import get_user_model

        from jobs.models import Job, JobApiKey

        user = get_user_model().objects.create_user(username="bench", password="bench-pass-123")
        _key_obj, key = JobApiKey.objects.create_key(owner=user, name="bench")
        os.environ["DJANGO_SETTINGS_MODULE"] = "bench.bare_settings"  # the API plus the baseline view
        try:
            host = stack.start_web()
        finally:
            os.environ["DJANGO_SETTINGS_MODULE"] = "anker_project.settings"
        stack._start(
            "worker",
            celery_worker_argv(
                name="bench-jobs@%h", queues="jobs,default", concurrency=WORKER_THREADS, loglevel="WARNING"
            ),
            port=stack.redis_port,  # already open: the worker needs no port of its own
        )
        wait_for_worker("bench-jobs@")  # the clock starts once the worker takes jobs
        receipts = Receipts()
        receipts.expected = n
        receiver = start_receiver(receipts)
        hook_url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"

        import httpx

        client = httpx.Client(base_url=f"http://{host}", headers={"Authorization": f"Api-Key {key}"}, timeout=30)
        latencies: list[float] = []
        baseline: list[float] = []

        def submit(i: int) -> None:
            started = time.perf_counter()
            response = client.post("/api/v1/jobs", json={"prompt": f"job {i}", "mode": "lite", "webhook_url": hook_url})
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 202, response.text
            started = time.perf_counter()
            response = client.post("/bench/bare", json={"prompt": f"job {i}"})
            baseline.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 202, response.text

        print(f"submitting {n} jobs with {SUBMITTERS} clients ...", flush=True)
        worker_pid = stack.pids["worker"]
        cpu_before = (cpu_seconds(stack.web_pid), cpu_seconds(worker_pid), machine_busy_seconds())
        t0 = time.time()
        with ThreadPoolExecutor(SUBMITTERS) as pool:
            list(pool.map(submit, range(n)))
        submitted = time.time() - t0
        if not receipts.all_in.wait(timeout=max(600, n * 2)):
            print(f"only {len(receipts.at)} of {n} webhooks arrived")
        web_cpu, worker_cpu, machine_cpu = (
            after - before
            for after, before in zip(
                (cpu_seconds(stack.web_pid), cpu_seconds(worker_pid), machine_busy_seconds()), cpu_before, strict=True
            )
        )
        ended = list(Job.objects.values_list("id", "status", "finished_at"))
        statuses: dict[str, int] = {}
        for _id, status, _f in ended:
            statuses[status] = statuses.get(status, 0) + 1
        finished = [f for _i, _s, f in ended if isinstance(f, datetime)]
        span = max(f.timestamp() for f in finished) - t0 if finished else float("nan")
        to_hook = [
            (receipts.at[str(job_id)] - f.timestamp()) * 1000
            for job_id, _s, f in ended
            if isinstance(f, datetime) and str(job_id) in receipts.at
        ]
        database = "PostgreSQL" if os.environ.get("BENCH_DATABASE_URL", "").startswith("postgres") else "SQLite"
        print(f"jobs: {n}, statuses: {statuses}, {SUBMITTERS} clients, {database}")
        print(
            f"  baseline, bare DRF view inserting one row: p50 {percentile(baseline, 50):.1f} ms,"
            f" p99 {percentile(baseline, 99):.1f} ms"
        )
        print(
            f"  POST /jobs submission latency:             p50 {percentile(latencies, 50):.1f} ms,"
            f" p99 {percentile(latencies, 99):.1f} ms ({n / submitted:.0f} submissions/s with the baseline's)"
            f" = {percentile(latencies, 99) / percentile(baseline, 99):.1f}x baseline p99"
        )
        print("  target: p99 <= 50 ms (PostgreSQL)")
        print(
            f"completed: {len(finished)} in {span:.1f} s from the first submission "
            f"= {len(finished) / span * 60:.0f} jobs/min"
        )
        print(
            f"CPU per job (submission to last webhook): web {web_cpu / n * 1000:.1f} ms, worker"
            f" {worker_cpu / n * 1000:.1f} ms; the machine was busy {machine_cpu / (time.time() - t0):.2f} of its"
            f" {os.cpu_count()} cores (everyone's work)"
        )
        print(f"end -> webhook receipt: p50 {percentile(to_hook, 50):.1f} ms, p99 {percentile(to_hook, 99):.1f} ms")
        receiver.shutdown()
        llm.stop()
        lost = n - len(receipts.at)
        not_done = n - statuses.get("succeeded", 0)
        failed = bool(lost or not_done)
        if failed:
            print(f"FAIL: {not_done} jobs did not succeed, {lost} webhooks did not arrive")
    finally:
        stack.close(failed=failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
