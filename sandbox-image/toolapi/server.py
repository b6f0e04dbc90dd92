"""HTTP layer: bearer auth, dispatch, JSON envelope, streaming upload/download, WebSocket relay.
The services and token check are in app.py, the route table in routes.py, body helpers in bodies.py."""

from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ValidationError

from . import desktop, relay
from .app import App
from .bodies import _ChunkedReader, _one, _redacted_file, _validation_message
from .errors import ApiError
from .files import Readable
from .routes import JSON_ROUTES, METHODS

__all__ = ["App", "Handler", "ToolApiServer", "ToolApiUnixServer"]

log = logging.getLogger("toolapi.http")

MAX_JSON_BODY_BYTES = 64 * 1024 * 1024
SOCKET_TIMEOUT_SECONDS = 300


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
