"""The desktop of a local jail (SANDBOX_LOCAL_DESKTOP, default auto: when the host has Xvfb,
x11vnc and Chromium): whether it runs, and how the jail starts it.

The jail runs the image's services under supervisord (sandbox-image/local/supervisord.conf),
which restarts any that dies; stopping the jail stops the desktop with it. The host reaches CDP
and VNC only through the tool API's authenticated `/cdp` and `/vnc` relays on `api.sock` (in a
directory only Anker's user can enter); the endpoint names that socket `ws+unix:PATH`. Inside
the jail x11vnc listens on a unix socket only and Chromium's pages are denied loopback
(`--proxy-bypass-list=<-loopback>` sends them to the proxy, which refuses loopback), so a page
cannot speak VNC or CDP to its own desktop. Without the desktop the tool API's health says
`absent` for x, cdp and vnc and the agent has no browser.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from django.conf import settings

from .. import SandboxStartError, jail_limits
from .interpreter import python_facts

JAIL_DESKTOP_ENV = {
    "DISPLAY": ":99",
    "SCREEN_GEOMETRY": "1280x800x24",
    "CHROME_CDP_INTERNAL_PORT": "9229",
    "CDP_PORT": "9229",  # what the tool API's health probes and /cdp relays to, inside the jail
    "VNC_SOCKET": "/tmp/anker-desktop/vnc.sock",  # x11vnc's, in the jail's private /tmp
    "TOOLAPI_SERVICES": "x,cdp,vnc",
    "TOOLAPI_LOG_DIR": "/run/toolapi/logs",
}
# Host programs the desktop runs (env variable of the jail's supervisord.conf -> candidates).
DESKTOP_PROGRAMS = {
    "XVFB_BIN": ("Xvfb",),
    "X11VNC_BIN": ("x11vnc",),
    "CHROMIUM_BIN": ("/usr/lib/chromium/chromium", "chromium", "chromium-browser"),
}
# Chromium's pages never reach the jail's loopback directly: with the egress proxy they go to it
# (which refuses loopback); without one, to a port where nothing listens.
NO_LOOPBACK = "--proxy-bypass-list=<-loopback>"
CHROME_NO_NETWORK_FLAGS = f"--proxy-server=http://127.0.0.1:9 {NO_LOOPBACK}"


def desktop_programs(python: str) -> tuple[dict[str, str], list[str]]:
    """The host's desktop programs (visible in the jail: under /usr or the interpreter's
    prefixes), and what is missing."""
    prefixes, has_supervisor = python_facts(python)
    visible = ("/usr/", *(prefix.rstrip("/") + "/" for prefix in prefixes))
    found: dict[str, str] = {}
    missing = [] if has_supervisor else [f"the supervisor package for {python}"]
    for variable, candidates in DESKTOP_PROGRAMS.items():
        paths = [shutil.which(candidate) for candidate in candidates]
        path = next((os.path.realpath(p) for p in paths if p), None)
        if path is None:
            missing.append(candidates[-1] if variable == "CHROMIUM_BIN" else candidates[0])
        elif not path.startswith(visible):
            missing.append(f"{path} (outside /usr: not visible in the jail)")
        else:
            found[variable] = path
    return found, missing


def desktop_for(*, jailed: bool) -> dict[str, str] | None:
    """The desktop's programs when the sandbox runs one, else None.

    Raises SandboxStartError when SANDBOX_LOCAL_DESKTOP=on and it cannot run."""
    mode = settings.SANDBOX_LOCAL_DESKTOP
    if mode == "off":
        return None
    if not jailed:
        if mode == "on":
            raise SandboxStartError("SANDBOX_LOCAL_DESKTOP=on needs bubblewrap: the desktop only runs in a jail")
        return None
    found, missing = desktop_programs(settings.SANDBOX_LOCAL_PYTHON)
    if missing:
        if mode == "on":
            raise SandboxStartError(
                "SANDBOX_LOCAL_DESKTOP=on but the desktop cannot run; missing: " + ", ".join(missing)
            )
        return None
    return found


def desktop_summary() -> str:
    mode = settings.SANDBOX_LOCAL_DESKTOP
    if mode == "off":
        return "no desktop (SANDBOX_LOCAL_DESKTOP=off)"
    _, missing = desktop_programs(settings.SANDBOX_LOCAL_PYTHON)
    if missing:
        return "no desktop, missing: " + ", ".join(missing)
    return "desktop: Xvfb, Chromium (CDP) and VNC in the jail, reached through the tool API's relays"


def desktop_start(argv: list[str], env: dict[str, str], run_dir: Path, python: str, desktop: dict[str, str]) -> None:
    """End a jail's `argv` with the desktop and add its `env`: supervisord runs the tool API
    beside Xvfb, Chromium, x11vnc, websockify and the two socket bridges, and restarts
    whichever dies. anker-supervisord starts the tool API at once (plain supervisord waits a
    second first): a new or woken jail is ready as soon as one without the desktop."""
    source = Path(settings.SANDBOX_TOOLAPI_SOURCE)
    (run_dir / "logs").mkdir(exist_ok=True)
    argv += [
        "--ro-bind", str(source / "rootfs" / "opt" / "anker" / "bin"), "/opt/anker/bin",
        "--ro-bind", str(source / "local" / "supervisord.conf"), "/opt/anker/supervisord.conf",
        python, "/opt/anker/bin/anker-supervisord", "--nodaemon", "--configuration", "/opt/anker/supervisord.conf",
    ]  # fmt: skip
    env.update(JAIL_DESKTOP_ENV, TOOLAPI_PYTHON=python, CHROME_EXTRA_FLAGS=CHROME_NO_NETWORK_FLAGS, **desktop)
    env["TOOLAPI_LIMITS"] = "".join(f"{arg} " for arg in jail_limits.inner_argv())  # not Chromium's
