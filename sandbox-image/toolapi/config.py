"""Settings of the tool API, read once from the environment."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

SERVICE_NAMES = ("x", "cdp", "vnc")


class ConfigError(Exception):
    """The environment does not allow the server to start."""


@dataclass(frozen=True)
class Settings:
    token: str
    root: str
    home: str
    max_output_bytes: int
    max_command_seconds: float
    max_shells: int
    max_console_records: int
    hostname: str
    display: str | None
    cdp_port: int  # Chromium's DevTools, on 127.0.0.1 only
    vnc_socket: str  # x11vnc's unix socket
    expected_services: frozenset[str]
    desktop_supervisor: str | None = None  # supervisord's socket when the desktop starts on demand


def _int_env(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _expected_services(display: str | None) -> frozenset[str]:
    """TOOLAPI_SERVICES lists the services this sandbox should run
    (comma-separated, may be empty). Unset: guess from the environment."""
    raw = os.environ.get("TOOLAPI_SERVICES")
    if raw is None:
        guessed = set()
        if display:
            guessed.add("x")
        if os.environ.get("CDP_PORT"):
            guessed.add("cdp")
        if os.environ.get("VNC_SOCKET"):
            guessed.add("vnc")
        return frozenset(guessed)
    names = {part.strip() for part in raw.split(",") if part.strip()}
    unknown = names - set(SERVICE_NAMES)
    if unknown:
        raise ConfigError(f"TOOLAPI_SERVICES has unknown names {sorted(unknown)}; known: {', '.join(SERVICE_NAMES)}")
    return frozenset(names)


def load_settings() -> Settings:
    token = os.environ.get("TOOLAPI_TOKEN", "")
    if not token.strip():
        raise ConfigError("TOOLAPI_TOKEN is not set; refusing to start without a token")
    if len(token) < 16:
        raise ConfigError("TOOLAPI_TOKEN is shorter than 16 characters; use a random token")

    root = os.path.realpath(os.environ.get("TOOLAPI_ROOT") or "/")
    if not os.path.isdir(root):
        raise ConfigError(f"TOOLAPI_ROOT {root!r} is not a directory")

    home_env = os.environ.get("TOOLAPI_HOME")
    if home_env:
        home = os.path.realpath(home_env)
    else:
        candidate = os.path.realpath(os.environ.get("HOME") or root)
        home = candidate if _inside(candidate, root) else root
    if not _inside(home, root):
        raise ConfigError(f"TOOLAPI_HOME {home!r} is outside TOOLAPI_ROOT {root!r}")
    os.makedirs(home, exist_ok=True)

    display = os.environ.get("DISPLAY") or None
    return Settings(
        token=token,
        root=root,
        home=home,
        max_output_bytes=_int_env("TOOLAPI_MAX_OUTPUT_BYTES", 64 * 1024, 1024),
        max_command_seconds=float(_int_env("TOOLAPI_MAX_COMMAND_SECONDS", 3600, 1)),
        max_shells=_int_env("TOOLAPI_MAX_SHELLS", 32, 1),
        max_console_records=_int_env("TOOLAPI_MAX_CONSOLE_RECORDS", 50, 1),
        hostname=os.environ.get("TOOLAPI_HOSTNAME") or socket.gethostname(),
        display=display,
        cdp_port=_int_env("CDP_PORT", 9229, 1),
        vnc_socket=os.environ.get("VNC_SOCKET") or "/tmp/anker-desktop/vnc.sock",
        expected_services=_expected_services(display),
        desktop_supervisor=os.environ.get("TOOLAPI_DESKTOP_SUPERVISOR") or None,
    )


def _inside(path: str, root: str) -> bool:
    return path == root or os.path.commonpath([path, root]) == root
