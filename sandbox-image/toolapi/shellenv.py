"""The environment and identity of the agent's shells (and of MCP servers started like them)."""

from __future__ import annotations

import os
import pwd

from .config import Settings

TERMINAL_COLUMNS = 200
TERMINAL_ROWS = 50


def shell_env(settings: Settings) -> dict[str, str]:
    # The shells are the agent's: they get no tool-API configuration, and
    # above all not the token.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLAPI_")}
    env["HOME"] = settings.home
    env["TERM"] = "xterm-256color"
    env["PAGER"] = "cat"
    env["GIT_PAGER"] = "cat"
    env["COLUMNS"] = str(TERMINAL_COLUMNS)
    env["LINES"] = str(TERMINAL_ROWS)
    env.setdefault("LANG", "C.UTF-8")
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    return env


def _user_name() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())
