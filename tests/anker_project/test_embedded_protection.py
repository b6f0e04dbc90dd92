"""`make run` protects what it starts from other users of the machine: `.data/` is 0700 and its
secrets 0600, the embedded Redis needs a generated password, Flower a generated login, and every
server listens on loopback only."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest
import redis

from tests.anker_project.test_embedded import Embedded, embedded, healthy, wait_for

__all__ = ["embedded"]  # the fixture, imported for the test below

pytestmark = pytest.mark.e2e


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def listening_addresses(port: int) -> set[str]:
    """The local addresses of sockets listening on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, _remote, state = line.split()[1:4]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


LOOPBACK_V4 = "0100007F"


def test_make_run_keeps_its_data_and_servers_to_anker_alone(embedded: Embedded) -> None:
    wait_for(lambda: "Anker is running." in embedded.output(), 180, "the runner to start", embedded.output)
    wait_for(lambda: healthy(embedded), 120, "a healthy stack", embedded.output)
    data = embedded.data_dir
    env = embedded.env
    redis_port, mongo_port = int(env["EMBEDDED_REDIS_PORT"]), int(env["EMBEDDED_MONGO_PORT"])
    flower_port, web_port = int(env["FLOWER_PORT"]), int(env["PORT"])
    password = (data / "redis_password").read_text().strip()
    flower_password = (data / "flower_password").read_text().strip()

    # Files: the directory is private, and so is every secret in it.
    assert mode(data) == 0o700
    for name in ("db.sqlite3", "redis_password", "flower_password", "redis/redis.conf"):
        assert mode(data / name) == 0o600, name
    assert mode(data / "logs") == 0o700

    # Redis: nothing without the password, which is nowhere on a command line.
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=redis_port).ping()
    assert redis.Redis(port=redis_port, password=password).ping() is True
    command_lines = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command_lines.append(cmdline.read_bytes())
        except OSError:  # the process ended meanwhile
            continue
    assert not any(password.encode() in line or flower_password.encode() in line for line in command_lines)

    # Flower: a login is needed.
    assert httpx.get(f"http://127.0.0.1:{flower_port}/", timeout=10).status_code == 401
    assert httpx.get(f"http://127.0.0.1:{flower_port}/", auth=("anker", flower_password), timeout=10).status_code == 200

    # Every server listens on loopback only.
    for port in (redis_port, mongo_port, flower_port, web_port):
        assert listening_addresses(port) == {LOOPBACK_V4}, port
