"""Memory accounting of sandboxes, for the benchmarks only: what one sandbox holds.

Local jails: the proportional set size (PSS) of its process tree, so the pages Chromium's
processes share are counted once. Docker: the container's memory use from the engine's stats.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from sandboxes.backends.docker import DockerBackend
from sandboxes.backends.local import LocalBackend


def sandbox_memory_bytes(backend: object, sandbox_id: str) -> int | None:
    """Memory of one sandbox now, or None when it is not running."""
    if isinstance(backend, LocalBackend):
        pid = backend.main_pid(sandbox_id)
        return None if pid is None else _tree_pss_bytes(pid)
    if isinstance(backend, DockerBackend):
        container = backend.container(sandbox_id)
        if container is None:
            return None
        usage = container.stats(stream=False).get("memory_stats", {}).get("usage")
        return int(usage) if usage is not None else None
    raise TypeError(f"no memory accounting for {type(backend).__name__}")


def _tree_pss_bytes(pid: int) -> int:
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            parents[int(proc.name)] = int(fields[1])
            rss[int(proc.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    tree, grew = {pid}, True
    while grew:
        grew = False
        for child, parent in parents.items():
            if parent in tree and child not in tree:
                tree.add(child)
                grew = True
    return sum(_pss_bytes(p, rss.get(p, 0)) for p in tree)


def _pss_bytes(pid: int, rss: int) -> int:
    """Proportional set size: Chromium's processes share most of their pages."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return rss
