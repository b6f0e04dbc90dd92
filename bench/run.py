"""`make bench`: every benchmark, one after another. Each prints its own numbers."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = [
    "publish.py",
    "request_path.py",
    "fanout.py",
    "sandbox_acquire.py",
    "jobs.py",
    "turn_overhead.py",
    "idle_memory.py",
    "schedules.py",
]

if __name__ == "__main__":
    failed = 0
    for name in BENCHES:
        print(f"\n### {name}", flush=True)
        failed += subprocess.call([sys.executable, str(HERE / name)]) != 0
    sys.exit(1 if failed else 0)
