"""CPU of one `POST /api/v1/jobs` in process, next to the jobs benchmark's baseline (a bare
authenticated DRF view that inserts one row, bench/bare_urls.py), measured in the same run.

Sequential requests through Django's test client with an API key, no worker (the `jobs.start`
messages wait in the private Redis): `time.process_time` around each POST, the two kinds
alternating, so a change in the machine's load falls on both alike. Prints the median and p90
CPU ms of each and the ratio. `--profile` adds a cProfile of the submissions (the functions
with the largest cumulative share). BENCH_DATABASE_URL runs it on PostgreSQL (an empty database).

    .venv/bin/python bench/jobs_cpu.py [N] [--profile]
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stack import BenchStack, percentile, run_bench

WARMUP = 10


def body(stack: BenchStack) -> bool:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from jobs.models import JobApiKey

    settings.ROOT_URLCONF = "bench.bare_urls"  # the API plus the baseline view
    n = int(next((a for a in sys.argv[1:] if a.isdigit()), "100"))
    profile = "--profile" in sys.argv
    user = get_user_model().objects.create_user(username="bench", password="bench-pass-123")
    _key_obj, key = JobApiKey.objects.create_key(owner=user, name="bench")
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}", HTTP_HOST="127.0.0.1")

    def post(path: str, i: int) -> float:
        started = time.process_time()
        response = client.post(path, {"prompt": f"job {i}", "mode": "lite"}, content_type="application/json")
        spent = (time.process_time() - started) * 1000
        assert response.status_code == 202, response.content
        return spent

    for i in range(WARMUP):
        post("/api/v1/jobs", i)
        post("/bench/bare", i)
    jobs: list[float] = []
    bare: list[float] = []
    profiler = cProfile.Profile()
    for i in range(n):
        if profile:
            profiler.enable()
        jobs.append(post("/api/v1/jobs", i))
        if profile:
            profiler.disable()
        bare.append(post("/bench/bare", i))
    database = "PostgreSQL" if os.environ.get("BENCH_DATABASE_URL", "").startswith("postgres") else "SQLite"
    print(f"POST /jobs CPU per request in process, {n} sequential (alternating with the baseline), {database}")
    print(
        f"  baseline, bare DRF view inserting one row: median {percentile(bare, 50):.2f} ms,"
        f" p90 {percentile(bare, 90):.2f} ms"
    )
    print(
        f"  POST /api/v1/jobs:                         median {percentile(jobs, 50):.2f} ms,"
        f" p90 {percentile(jobs, 90):.2f} ms = {percentile(jobs, 50) / percentile(bare, 50):.1f}x baseline median"
    )
    if profile:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
        stats.print_stats(60)
        print(out.getvalue())
    return True


if __name__ == "__main__":
    sys.exit(run_bench(body))
