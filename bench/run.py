"""`make bench`: every benchmark, one after another. Each prints its own numbers.

    .venv/bin/python bench/run.py [--full] [NAME ...]

`--full` adds the long modes (`make bench BENCH_ARGS=--full`): 1,000 idle WebSockets and the
saturation ramp of the fan-out benchmark. NAMEs (e.g. `token_relay fanout`) run only those.
"""

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = [
    ["publish.py"],
    ["request_path.py"],
    ["fanout.py"],
    ["token_relay.py"],
    ["sandbox_acquire.py"],
    ["jobs.py"],
    ["jobs_cpu.py"],
    ["turn_overhead.py"],
    ["idle_memory.py"],
    ["schedules.py"],
]
LONG = [
    ["fanout.py", "--idle", "1000"],
    ["fanout.py", "--saturation"],
]

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also the long modes")
    parser.add_argument("names", nargs="*", help="run only these benchmarks")
    args = parser.parse_args()
    chosen = BENCHES + (LONG if args.full else [])
    if args.names:
        chosen = [argv for argv in chosen if Path(argv[0]).stem in {Path(n).stem for n in args.names}]
    failed = 0
    for argv in chosen:
        print(f"\n### {' '.join(argv)}", flush=True)
        failed += subprocess.call([sys.executable, str(HERE / argv[0]), *argv[1:]]) != 0
    sys.exit(1 if failed else 0)
