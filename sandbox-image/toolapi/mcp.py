"""MCP stdio servers run inside the sandbox and relayed over the tool API.

The worker speaks MCP; this module only starts the server's process, writes the JSON-RPC
messages it is given to the process's stdin (one per line) and hands back what the process
writes to stdout, line by line. The process is the sandbox's own untrusted code: it runs with
the shells' environment, never the tool API's (no token).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import threading
from collections import deque

from . import models
from .config import Settings
from .errors import ApiError, not_found

log = logging.getLogger("toolapi.mcp")

MAX_SERVERS = 8
MAX_LINE_BYTES = 16 * 1024 * 1024
MAX_QUEUED_MESSAGES = 1000
STDERR_TAIL_BYTES = 4000


class McpProcess:
    def __init__(self, server_id: str, argv: list[str], env: dict[str, str], cwd: str) -> None:
        self.id = server_id
        self.cond = threading.Condition()
        self.messages: deque[dict[str, object]] = deque()
        self.stderr = bytearray()
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=cwd,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise ApiError(422, f"cannot start MCP server {server_id!r}: {exc.strerror or exc}: {argv[0]}") from exc
        self._write_lock = threading.Lock()
        threading.Thread(target=self._read_stdout, name=f"mcp-{server_id}-out", daemon=True).start()
        threading.Thread(target=self._read_stderr, name=f"mcp-{server_id}-err", daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in iter(lambda: self.proc.stdout.readline(MAX_LINE_BYTES), b""):  # type: ignore[union-attr]
            try:
                message = json.loads(line)
            except ValueError:
                continue  # servers that log to stdout: not a JSON-RPC message
            if not isinstance(message, dict):
                continue
            with self.cond:
                if len(self.messages) < MAX_QUEUED_MESSAGES:
                    self.messages.append(message)
                self.cond.notify_all()
        self.proc.wait()
        with self.cond:
            self.cond.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for chunk in iter(lambda: self.proc.stderr.read1(4096), b""):  # type: ignore[union-attr]
            with self.cond:
                self.stderr += chunk
                del self.stderr[:-STDERR_TAIL_BYTES]

    def send(self, message: dict[str, object]) -> None:
        if self.proc.poll() is not None:
            raise ApiError(409, f"MCP server {self.id!r} has exited ({self.proc.returncode})")
        data = json.dumps(message, ensure_ascii=False).encode("utf-8") + b"\n"
        with self._write_lock:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                raise ApiError(409, f"MCP server {self.id!r} stopped reading its input") from exc

    def recv(self, wait_seconds: float) -> models.McpRecvResult:
        with self.cond:
            if not self.messages and self.proc.poll() is None:
                self.cond.wait(wait_seconds)
            messages = list(self.messages)
            self.messages.clear()
            exited = self.proc.poll() is not None and not messages
            stderr = self.stderr.decode("utf-8", errors="replace")
        return models.McpRecvResult(
            id=self.id,
            messages=messages,
            exited=exited,
            returncode=self.proc.returncode if exited else None,
            stderr=stderr,
        )

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


class McpManager:
    def __init__(self, settings: Settings, base_env: dict[str, str]) -> None:
        self.settings = settings
        self.base_env = base_env
        self._servers: dict[str, McpProcess] = {}
        self._lock = threading.Lock()

    def start(self, req: models.McpStartRequest, extra_env: dict[str, str]) -> models.McpStartResult:
        with self._lock:
            old = self._servers.pop(req.id, None)
            if old is None and len(self._servers) >= MAX_SERVERS:
                raise ApiError(429, f"too many MCP servers ({MAX_SERVERS}); stop one with /mcp/stop")
        if old is not None:
            old.stop()
        env = {**self.base_env, **extra_env, **req.env}
        server = McpProcess(req.id, list(req.command), env, self.settings.home)
        with self._lock:
            self._servers[req.id] = server
        log.info("MCP server %s started", req.id)
        return models.McpStartResult(id=req.id, running=server.proc.poll() is None)

    def send(self, req: models.McpSendRequest) -> models.McpStartResult:
        server = self._get(req.id)
        server.send(req.message)
        return models.McpStartResult(id=req.id, running=True)

    def recv(self, req: models.McpRecvRequest) -> models.McpRecvResult:
        return self._get(req.id).recv(req.wait_seconds)

    def stop(self, req: models.McpIdRequest) -> models.McpStartResult:
        with self._lock:
            server = self._servers.pop(req.id, None)
        if server is None:
            raise not_found(f"no MCP server named {req.id!r}")
        server.stop()
        return models.McpStartResult(id=req.id, running=False)

    def close_all(self) -> None:
        with self._lock:
            servers = list(self._servers.values())
            self._servers.clear()
        for server in servers:
            server.stop()

    def _get(self, server_id: str) -> McpProcess:
        with self._lock:
            server = self._servers.get(server_id)
        if server is None:
            raise not_found(f"no MCP server named {server_id!r}")
        return server
