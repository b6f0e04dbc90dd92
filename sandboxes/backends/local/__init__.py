"""The local backend: the tool API as a child process of this worker, in a bubblewrap jail,
with a desktop (Xvfb, Chromium, VNC) inside it when the host has one.

One job per module:
- backend.py: `LocalBackend`, the sandbox's life (create, start, stop, destroy, status, list)
  over its directory `SANDBOX_LOCAL_DIR/<uuid>/`
- jail.py: the command that runs the tool API, in the bubblewrap jail or unjailed
- desktop.py: whether the jail runs the desktop, and how it starts it (supervisord)
- proxy.py: the jail's egress proxy, served from this process while the jail runs
- processes.py: the process table: spawning so that every jail dies with this process, ending
  a sandbox's process group
- interpreter.py: what the jail needs of the Python it runs

`SANDBOX_BACKEND=local` names it (`sandboxes.backends.get_backend`).
"""

from .backend import LocalBackend
from .desktop import DESKTOP_PROGRAMS, desktop_programs
from .jail import bwrap_path

__all__ = ["DESKTOP_PROGRAMS", "LocalBackend", "bwrap_path", "desktop_programs"]
