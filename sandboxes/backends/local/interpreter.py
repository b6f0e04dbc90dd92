"""The interpreter a local sandbox runs its tool API (and the desktop's supervisord) with."""

from __future__ import annotations

import subprocess
from functools import lru_cache


@lru_cache(maxsize=4)
def python_facts(python: str) -> tuple[tuple[str, ...], bool]:
    """The prefixes `python` needs bound into a jail (those outside /usr), and whether it can
    import supervisor (the desktop's process manager). Asked once per interpreter."""
    out = subprocess.run(
        [
            python,
            "-c",
            "import sys, importlib.util as u; print(sys.prefix); print(sys.base_prefix); "
            "print(u.find_spec('supervisor') is not None)",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.split()
    prefixes = tuple(sorted({p for p in out[:2] if p != "/usr" and not p.startswith("/usr/")}))
    return prefixes, out[2] == "True"
