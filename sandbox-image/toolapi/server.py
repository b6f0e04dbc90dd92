"""HTTP layer: bearer auth, routing, JSON envelope, streaming upload/download."""

from __future__ import annotations

import hmac
import json
import logging
import os
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ValidationError

from . import desktop, models, relay
from .config import Settings
from .errors import ApiError
from .files import FileService, Readable
from .mcp import McpManager
from .paths import PathPolicy
from .redact import Redactor
from .shell import shell_env
from .shells import ShellManager

log = logging.getLogger("toolapi.http")

MAX_JSON_BODY_BYTES = 64 * 1024 * 1024
SOCKET_TIMEOUT_SECONDS = 300


class App:
    """Everything a request handler needs; one per server."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.policy = PathPolicy(settings.root, settings.home)
        self.files = FileService(self.policy)
        self.shells = ShellManager(settings, self.policy)
        self.mcp = McpManager(settings, shell_env(settings))
        self.redactor = Redactor({})
        self._token = settings.token.encode("utf-8")
        self._refused_lock = threading.Lock()
        self.refused = 0  # requests turned away for a missing or wrong token, since start

    def set_env(self, req: models.EnvSetRequest) -> models.EnvSetResult:
        # The values are secrets: every response from now on is redacted of them.
        self.redactor = Redactor(dict(req.env))
        restarted = self.shells.set_env(dict(req.env))
        return models.EnvSetResult(names=sorted(req.env), shells_restarted=restarted)

    def authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[len("Bearer ") :].strip().encode("utf-8"), self._token)

    def count_refused(self) -> int:
        with self._refused_lock:
            self.refused += 1
            return self.refused


@dataclass(frozen=True)
class JsonRoute:
    model: type[BaseModel]
    handler: Callable[[App, Any], BaseModel]


JSON_ROUTES: dict[str, JsonRoute] = {
    "/shell/exec": JsonRoute(models.ShellExecRequest, lambda a, r: a.shells.exec(r)),
    "/shell/view": JsonRoute(models.ShellIdRequest, lambda a, r: a.shells.view(r)),
    "/shell/wait": JsonRoute(models.ShellWaitRequest, lambda a, r: a.shells.wait(r)),
    "/shell/write": JsonRoute(models.ShellWriteRequest, lambda a, r: a.shells.write(r)),
    "/shell/kill": JsonRoute(models.ShellIdRequest, lambda a, r: a.shells.kill(r)),
    "/shell/interrupt": JsonRoute(models.ShellInterruptRequest, lambda a, r: a.shells.interrupt(r)),
    "/file/read": JsonRoute(models.FileReadRequest, lambda a, r: a.files.read(r)),
    "/file/write": JsonRoute(models.FileWriteRequest, lambda a, r: a.files.write(r)),
    "/file/str_replace": JsonRoute(models.FileStrReplaceRequest, lambda a, r: a.files.str_replace(r)),
    "/file/search": JsonRoute(models.FileSearchRequest, lambda a, r: a.files.search(r)),
    "/file/find": JsonRoute(models.FileFindRequest, lambda a, r: a.files.find(r)),
    "/file/list": JsonRoute(models.FileListRequest, lambda a, r: a.files.list(r)),
    "/env": JsonRoute(models.EnvSetRequest, lambda a, r: a.set_env(r)),
    "/mcp/start": JsonRoute(models.McpStartRequest, lambda a, r: a.mcp.start(r, a.shells.extra_env)),
    "/mcp/send": JsonRoute(models.McpSendRequest, lambda a, r: a.mcp.send(r)),
    "/mcp/recv": JsonRoute(models.McpRecvRequest, lambda a, r: a.mcp.recv(r)),
    "/mcp/stop": JsonRoute(models.McpIdRequest, lambda a, r: a.mcp.stop(r)),
}
# path -> the one method it accepts
METHODS: dict[str, str] = {path: "POST" for path in JSON_ROUTES} | {
    "/file/upload": "POST",
    "/file/download": "GET",
    "/health": "GET",
    "/cdp": "GET",  # WebSocket upgrades, relayed to the desktop (relay.py)
    "/vnc": "GET",
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "anker-toolapi"
    sys_version = ""
    timeout = SOCKET_TIMEOUT_SECONDS
    server: ToolApiServer | ToolApiUnixServer

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    # --- dispatch -----------------------------------------------------------

    def _dispatch(self) -> None:
        started = time.monotonic()
        self._status = 0
        self._body_consumed = False
        url = urlsplit(self.path)
        self._route = url.path if url.path in METHODS else "(unknown path)"
        app = self.server.app
        try:
            if not app.authorized(self.headers.get("Authorization")):
                refused = app.count_refused()
                log.warning(
                    "refused %s %s from %s: missing or invalid bearer token (%d refused since start)",
                    self.command, self._route, self.address_string(), refused,
                )  # fmt: skip
                raise ApiError(401, "missing or invalid bearer token")
            method = METHODS.get(url.path)
            if method is None:
                raise ApiError(404, f"no such endpoint: {url.path}")
            if self.command != method:
                raise ApiError(405, f"{url.path} accepts {method} only, not {self.command}")
            query = parse_qs(url.query, keep_blank_values=True)
            if url.path in ("/cdp", "/vnc"):
                self._relay(app, url.path)
            elif url.path == "/health":
                self._send_ok(desktop.health_report(app.settings))
            elif url.path == "/file/download":
                self._download(app, _one(query, "path"))
            elif url.path == "/file/upload":
                self._upload(app, _one(query, "path"))
            else:
                route = JSON_ROUTES[url.path]
                request = route.model.model_validate(self._read_json())
                self._send_ok(route.handler(app, request))
        except ApiError as exc:
            self._send_error(exc.status, exc.message)
        except ValidationError as exc:
            self._send_error(422, _validation_message(exc))
        except PermissionError as exc:
            self._send_error(403, f"permission denied: {exc.filename or exc}")
        except FileNotFoundError as exc:
            self._send_error(404, f"no such file or directory: {exc.filename or exc}")
        except (IsADirectoryError, NotADirectoryError) as exc:
            self._send_error(400, f"{exc.strerror}: {exc.filename}")
        except OSError as exc:
            log.warning("%s %s: %s", self.command, self._route, exc)
            self._send_error(500, f"{exc.strerror or exc}")
        except Exception:
            log.exception("%s %s failed", self.command, self._route)
            self._send_error(500, "internal error")
        finally:
            # Only known routes are logged: a client could put anything
            # (even the token) in an unknown path.
            log.info(
                "%s %s %d %.1fms",
                self.command,
                url.path if url.path in METHODS else "(unknown path)",
                self._status,
                (time.monotonic() - started) * 1000,
            )

    def _relay(self, app: App, path: str) -> None:
        if not relay.is_upgrade(self.headers):
            raise ApiError(400, f"{path} is a WebSocket endpoint: send an Upgrade: websocket request")
        if self._has_body():
            raise ApiError(400, f"{path} takes no request body")
        # From here the connection belongs to the relay: no keep-alive, no idle timeout (a
        # live view or a CDP session can be quiet for minutes).
        self.close_connection = True
        self.connection.settimeout(None)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        try:
            desktop.ensure(app.settings)  # the desktop starts when first needed
        except desktop.DesktopStartError as exc:
            raise ApiError(503, str(exc)) from exc
        if path == "/cdp":
            self._status = relay.relay_cdp(self.connection, self.rfile, self.headers, app.settings.cdp_port)
        else:
            relay.relay_vnc(self.connection, self.rfile, self.headers, app.settings.vnc_socket)
            self._status = 101

    # --- bodies -------------------------------------------------------------

    def _read_json(self) -> Any:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raw = _ChunkedReader(self.rfile).read(MAX_JSON_BODY_BYTES + 1)
        else:
            length = self._content_length()
            if length is None:
                raise ApiError(411, "Content-Length is required")
            if length > MAX_JSON_BODY_BYTES:
                raise ApiError(413, f"request body over {MAX_JSON_BODY_BYTES} bytes")
            raw = self.rfile.read(length)
            self._body_consumed = True
        if len(raw) > MAX_JSON_BODY_BYTES:
            raise ApiError(413, f"request body over {MAX_JSON_BODY_BYTES} bytes")
        self._body_consumed = True
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ApiError(400, f"request body is not valid JSON: {exc}") from exc

    def _upload(self, app: App, path: str) -> None:
        body: Readable
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body, length = _ChunkedReader(self.rfile), None
        else:
            length = self._content_length()
            if length is None:
                raise ApiError(411, "Content-Length (or chunked encoding) is required")
            body = self.rfile
        result = app.files.upload(path, body, length)
        self._body_consumed = True
        self._send_ok(result)

    def _download(self, app: App, path: str) -> None:
        resolved, size, chunks = app.files.open_download(path)
        if app.redactor:
            # Secrets were given to this sandbox: a file leaves only without them (a deliverable
            # the agent wrote them into, a file the user downloads from the file view).
            data = _redacted_file(app.redactor, resolved, size, chunks)
            size, chunks = len(data), iter((data,))
        name = resolved.rsplit("/", 1)[-1].replace('"', "")
        self._status = 200
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.send_header("Content-Disposition", f'attachment; filename="{name}"')
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        sent = 0
        for chunk in chunks:
            self.wfile.write(chunk)
            sent += len(chunk)
        if sent != size:  # the file shrank while we sent it: the client must not trust this
            self.close_connection = True

    def _content_length(self) -> int | None:
        raw = self.headers.get("Content-Length")
        if raw is None:
            return None
        try:
            length = int(raw)
        except ValueError as exc:
            raise ApiError(400, "Content-Length is not a number") from exc
        if length < 0:
            raise ApiError(400, "Content-Length is negative")
        return length

    # --- responses ----------------------------------------------------------

    def _send_ok(self, data: BaseModel) -> None:
        # Secret values never leave the sandbox through the API, in any output.
        self._send_json(200, {"ok": True, "data": self.server.app.redactor.value(data.model_dump(mode="json"))})

    def _send_error(self, status: int, message: str) -> None:
        if not getattr(self, "_body_consumed", False) and self._has_body():
            # The request body was not read; the connection cannot be reused.
            self.close_connection = True
        self._send_json(status, {"ok": False, "error": message})

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="toolapi"')
        if status == 405:
            self.send_header("Allow", METHODS.get(self._route, "GET"))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _has_body(self) -> bool:
        return bool(self.headers.get("Transfer-Encoding") or int(self.headers.get("Content-Length") or 0))

    # Logging goes through _dispatch (method, path, status, time) and never
    # includes headers or bodies, so the token cannot end up in a log.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_message(self, format: str, *args: Any) -> None:
        log.warning("%s: " + format, self.address_string(), *args)

    def address_string(self) -> str:
        # Unix-socket clients have no address.
        return str(self.client_address[0]) if self.client_address else "unix"


class ToolApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        super().__init__(address, Handler)


class ToolApiUnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """The same API on a unix socket: lets a jail with no network at all
    (bwrap --unshare-net) be reached through a socket in a bound directory."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, path: str, app: App) -> None:
        self.app = app
        if os.path.exists(path):
            os.unlink(path)  # a stale socket from an earlier run
        super().__init__(path, Handler)
        os.chmod(path, 0o600)


class _LineReader(Readable, Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


class _ChunkedReader:
    """Minimal reader for a chunked request body (HTTP/1.1 clients that stream
    without a length, e.g. requests with a generator)."""

    def __init__(self, raw: _LineReader) -> None:
        self.raw = raw
        self.left = 0
        self.done = False

    def read(self, size: int = -1) -> bytes:
        out = bytearray()
        while not self.done and (size < 0 or len(out) < size):
            if self.left == 0:
                line = self.raw.readline(1024)
                try:
                    self.left = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError as exc:
                    raise ApiError(400, "malformed chunked body") from exc
                if self.left == 0:
                    while self.raw.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    self.done = True
                    break
            want = self.left if size < 0 else min(self.left, size - len(out))
            data = self.raw.read(want)
            if not data:
                raise ApiError(400, "chunked body ended early")
            out += data
            self.left -= len(data)
            if self.left == 0:
                self.raw.readline(1024)  # CRLF after the chunk
        return bytes(out)


def _one(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name)
    if not values or not values[0]:
        raise ApiError(422, f"query parameter {name!r} is required")
    return values[0]


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "invalid request: " + "; ".join(parts)


# A file is read whole to be checked for secrets; deliverables are capped lower than this anyway.
REDACT_MAX_BYTES = 64 * 1024 * 1024


def _redacted_file(redactor: Redactor, path: str, size: int, chunks: Iterator[bytes]) -> bytes:
    """The file's bytes with every secret redacted. Text (UTF-8) is redacted like any output; a
    binary file cannot be edited without breaking it, so one that holds a secret is refused."""
    if size > REDACT_MAX_BYTES:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        raise ApiError(413, f"{path} is larger than the {REDACT_MAX_BYTES} bytes that can be checked for secret values")
    data = b"".join(chunks)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        if redactor.text(data.decode("latin-1")) != data.decode("latin-1"):
            raise ApiError(403, f"{path} holds a secret value in binary form; it cannot leave the sandbox") from None
        return data
    return redactor.text(text).encode("utf-8")
