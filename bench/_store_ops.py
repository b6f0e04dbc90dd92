"""Counts a benchmark process's event-store commands by kind and caller.

`install()` registers a pymongo command listener (before the process creates its client):
every command is counted under "<command> <caller>", the caller being the innermost project
functions on the calling thread's stack (`eventlog.last_seq<hub._check_log`), with the time
the store took to answer. The counts are written to `BENCH_STORE_OPS_DIR/<pid>.json` every
half second and at exit, so the benchmark reads them per phase with `snapshot()`. Only
benchmarks use it: the listener walks the stack on every command.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from pymongo import monitoring

ROOT = Path(__file__).resolve().parents[1]
ENV = "BENCH_STORE_OPS_DIR"
_PROJECT = str(ROOT) + os.sep
_SKIPPED = (str(Path(__file__).resolve()), f"{os.sep}bench{os.sep}_stack.py")


def _caller() -> str:
    """The two innermost project frames of this thread, as `module.function<module.function`."""
    names: list[str] = []
    frame = sys._getframe(2)
    while frame is not None and len(names) < 2:
        path = frame.f_code.co_filename
        if path.startswith(_PROJECT) and ".venv" not in path and not path.endswith(_SKIPPED):
            module = Path(path).stem
            names.append(f"{module}.{frame.f_code.co_name}")
        frame = frame.f_back  # type: ignore[assignment]
    return "<".join(names) or "pymongo"  # the client's own monitor (hello)


class _Listener(monitoring.CommandListener):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.guard = threading.Lock()
        self.pending: dict[tuple[Any, int], str] = {}
        self.counts: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        key = f"{event.command_name} {_caller()}"
        with self.guard:
            self.pending[(event.connection_id, event.request_id)] = key

    def _ended(self, event: monitoring.CommandSucceededEvent | monitoring.CommandFailedEvent) -> None:
        with self.guard:
            key = self.pending.pop((event.connection_id, event.request_id), f"{event.command_name} ?")
            self.counts[key] += 1
            self.seconds[key] += event.duration_micros / 1e6

    succeeded = _ended
    failed = _ended

    def dump(self) -> None:
        written_at = time.time()
        with self.guard:
            counts = {key: [count, self.seconds[key]] for key, count in self.counts.items()}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"written_at": written_at, "counts": counts}))
        tmp.replace(self.path)


def install() -> None:
    """Count this process's commands if the benchmark asked for it (BENCH_STORE_OPS_DIR set)."""
    where = os.environ.get(ENV)
    if not where:
        return
    listener = _Listener(Path(where) / f"{os.getpid()}.json")
    monitoring.register(listener)

    def dump_often() -> None:
        while True:
            time.sleep(0.5)
            listener.dump()

    threading.Thread(target=dump_often, name="store-ops", daemon=True).start()
    atexit.register(listener.dump)


Counts = dict[str, tuple[int, float]]


def snapshot(where: Path, pids: dict[int, str]) -> dict[str, Counts]:
    """Every process's counts so far, by role (`pids` names the running ones; the rest, the
    publishers, have ended: their counts are final). Waits for the running ones' next dump
    (a busy process's dumping thread may lag behind its half second)."""
    asked = time.time()
    deadline = time.monotonic() + 10
    while True:
        dumps = {int(path.stem): json.loads(path.read_text()) for path in where.glob("*.json")}
        late = [pid for pid in pids if dumps.get(pid, {}).get("written_at", 0) < asked]
        if not late or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    out: dict[str, Counts] = defaultdict(dict)
    for pid, dump in dumps.items():
        role = pids.get(pid, "publisher")
        for key, (count, seconds) in dump["counts"].items():
            had = out[role].get(key, (0, 0.0))
            out[role][key] = (had[0] + count, had[1] + seconds)
    return out


def delta(after: dict[str, Counts], before: dict[str, Counts]) -> dict[str, Counts]:
    out: dict[str, Counts] = {}
    for role, counts in after.items():
        was = before.get(role, {})
        changed = {
            key: (count - was.get(key, (0, 0.0))[0], seconds - was.get(key, (0, 0.0))[1])
            for key, (count, seconds) in counts.items()
        }
        out[role] = {key: value for key, value in changed.items() if value[0] > 0}
    return out


def report(label: str, ops: dict[str, Counts], seconds: float) -> None:
    """Print what each process asked the store during a phase of `seconds`."""
    total = sum(count for counts in ops.values() for count, _ in counts.values())
    print(f"  event-store commands {label} ({seconds:.0f} s): {total} ({total / seconds:.1f}/s)")
    for role, counts in sorted(ops.items()):
        for key, (count, waited) in sorted(counts.items(), key=lambda item: -item[1][0])[:8]:
            print(f"    {role:>9}: {count:>6} {key}  ({waited * 1000 / count:.1f} ms each)")
