"""The client of the in-sandbox tool API (sandbox-image/toolapi): the only module that speaks it.

Every call returns the tool API's `data` dict; `{"ok": false, "error"}` (and any transport
failure) becomes `ToolApiError(status, message)`. Status 0 means the sandbox did not answer.
"""

from __future__ import annotations

import functools
import ssl
import typing
from collections.abc import Iterator
from typing import Any

import httpx

CONNECT_TIMEOUT_SECONDS = 5.0
# A shell call may legitimately wait this long beyond what it asked the server to wait.
WAIT_SLACK_SECONDS = 15.0
DOWNLOAD_CHUNK_BYTES = 64 * 1024


class ToolApiError(Exception):
    """The tool API refused or failed a call. `status` is its HTTP status, 0 when unreachable."""

    status: int
    message: str

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every client. The tool API speaks plain HTTP, but httpx builds a
    context per client and loading the CA bundle into it cost ~20 ms (180 ms on a busy host) of
    every sandbox acquire; a shared one is built once (SSLContext is thread-safe)."""
    return httpx.create_ssl_context()


class ToolApiClient:
    """HTTP (TCP or, with `uds`, a unix socket) client of one sandbox's tool API. It never goes
    through a proxy from the environment: the tool API is reached directly."""

    def __init__(self, base_url: str, token: str, *, uds: str | None = None, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._authorization = f"Bearer {token}"
        tls = _tls_context()
        self._client = httpx.Client(
            base_url=base_url if not uds else "http://sandbox",
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT_SECONDS),
            transport=httpx.HTTPTransport(uds=uds, verify=tls),
            trust_env=False,
        )

    def relay_headers(self) -> dict[str, str]:
        """Headers for the tool API's WebSocket relays (/cdp, /vnc), opened by other clients."""
        return {"Authorization": self._authorization}

    def __repr__(self) -> str:  # never the token
        return f"ToolApiClient({self._client.base_url!s})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ToolApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing -----------------------------------------------------------------

    @staticmethod
    def _data(response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError as exc:
            raise ToolApiError(response.status_code, f"not a tool API response: {response.text[:200]!r}") from exc
        if not isinstance(body, dict):
            raise ToolApiError(response.status_code, "not a tool API response")
        if body.get("ok") is True and response.status_code == 200:
            data = body.get("data")
            return data if isinstance(data, dict) else {}
        raise ToolApiError(response.status_code, str(body.get("error") or response.reason_phrase))

    def _request(self, method: str, endpoint: str, *, timeout: float | None = None, **kwargs: Any) -> dict[str, Any]:
        if timeout is not None:
            kwargs["timeout"] = httpx.Timeout(timeout, connect=CONNECT_TIMEOUT_SECONDS)
        try:
            response = self._client.request(method, endpoint, **kwargs)
        except httpx.TimeoutException as exc:
            raise ToolApiError(0, f"the sandbox did not answer {endpoint} in time") from exc
        except httpx.TransportError as exc:
            raise ToolApiError(0, f"the sandbox is unreachable ({type(exc).__name__})") from exc
        return self._data(response)

    def _post(self, endpoint: str, body: dict[str, Any], *, waits: float = 0.0) -> dict[str, Any]:
        payload = {k: v for k, v in body.items() if v is not None}
        timeout = max(self.timeout, waits + WAIT_SLACK_SECONDS) if waits else None
        return self._request("POST", endpoint, json=payload, timeout=timeout)

    # --- endpoints ----------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/health")

    def shell_exec(
        self, *, id: str, command: str, exec_dir: str | None = None, wait_seconds: float = 5.0
    ) -> dict[str, Any]:
        body = {"id": id, "command": command, "exec_dir": exec_dir, "wait_seconds": wait_seconds}
        return self._post("/shell/exec", body, waits=wait_seconds)

    def shell_view(self, *, id: str) -> dict[str, Any]:
        return self._post("/shell/view", {"id": id})

    def shell_wait(self, *, id: str, seconds: float) -> dict[str, Any]:
        return self._post("/shell/wait", {"id": id, "seconds": seconds}, waits=seconds)

    def shell_write(
        self, *, id: str, input: str = "", press_enter: bool = False, key: str | None = None
    ) -> dict[str, Any]:
        return self._post("/shell/write", {"id": id, "input": input, "press_enter": press_enter, "key": key}, waits=1)

    def shell_kill(self, *, id: str) -> dict[str, Any]:
        return self._post("/shell/kill", {"id": id})

    def shell_interrupt(self, *, id: str | None = None, grace_seconds: float = 3.0) -> dict[str, Any]:
        """SIGINT to the running command (of shell `id`, or of every shell), SIGKILL after the grace."""
        return self._post("/shell/interrupt", {"id": id, "grace_seconds": grace_seconds}, waits=grace_seconds + 4)

    def file_read(
        self, *, file: str, start_line: int | None = None, end_line: int | None = None, max_chars: int | None = None
    ) -> dict[str, Any]:
        body = {"file": file, "start_line": start_line, "end_line": end_line, "max_chars": max_chars}
        return self._post("/file/read", body)

    def file_write(
        self,
        *,
        file: str,
        content: str,
        append: bool = False,
        leading_newline: bool = False,
        trailing_newline: bool = False,
    ) -> dict[str, Any]:
        body = {
            "file": file,
            "content": content,
            "append": append,
            "leading_newline": leading_newline,
            "trailing_newline": trailing_newline,
        }
        return self._post("/file/write", body)

    def file_str_replace(self, *, file: str, old_str: str, new_str: str) -> dict[str, Any]:
        return self._post("/file/str_replace", {"file": file, "old_str": old_str, "new_str": new_str})

    def file_search(self, *, file: str, regex: str) -> dict[str, Any]:
        return self._post("/file/search", {"file": file, "regex": regex})

    def file_find(self, *, path: str, glob: str) -> dict[str, Any]:
        return self._post("/file/find", {"path": path, "glob": glob})

    def file_list(self, *, path: str) -> dict[str, Any]:
        return self._post("/file/list", {"path": path})

    def env_set(self, *, env: dict[str, str]) -> dict[str, Any]:
        """Variables for the sandbox's shells and MCP servers (secrets): also redacted from every
        response from now on. The values are never logged (the body is not)."""
        return self._post("/env", {"env": env})

    def mcp_start(self, *, id: str, command: list[str], env: dict[str, str]) -> dict[str, Any]:
        return self._post("/mcp/start", {"id": id, "command": command, "env": env})

    def mcp_send(self, *, id: str, message: dict[str, Any]) -> dict[str, Any]:
        return self._post("/mcp/send", {"id": id, "message": message})

    def mcp_recv(self, *, id: str, wait_seconds: float) -> dict[str, Any]:
        return self._post("/mcp/recv", {"id": id, "wait_seconds": wait_seconds}, waits=wait_seconds)

    def mcp_stop(self, *, id: str) -> dict[str, Any]:
        return self._post("/mcp/stop", {"id": id})

    def file_upload(self, *, path: str, data: bytes | typing.BinaryIO) -> dict[str, Any]:
        """Upload bytes or a binary file object (streamed in chunks, any size)."""
        content: bytes | Iterator[bytes]
        if isinstance(data, bytes | bytearray):
            content = bytes(data)
        else:
            stream = data

            def chunks() -> Iterator[bytes]:
                while chunk := stream.read(DOWNLOAD_CHUNK_BYTES):
                    yield chunk

            content = chunks()
        return self._request(
            "POST",
            "/file/upload",
            params={"path": path},
            content=content,
            headers={"Content-Type": "application/octet-stream"},
            timeout=max(self.timeout, 300.0),
        )

    def file_download(self, *, path: str, max_bytes: int | None = None) -> Iterator[bytes]:
        """The file's bytes in chunks. Errors are raised before the first chunk is yielded; a file
        whose announced size is over `max_bytes` is refused (413) before any of it is read."""
        try:
            request = self._client.build_request("GET", "/file/download", params={"path": path})
            response = self._client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise ToolApiError(0, f"the sandbox is unreachable ({type(exc).__name__})") from exc
        if response.status_code != 200:
            response.read()
            response.close()
            self._data(response)  # raises with the server's message
        announced = response.headers.get("content-length", "")
        if max_bytes is not None and announced.isdigit() and int(announced) > max_bytes:
            response.close()
            raise ToolApiError(413, f"the file is {announced} bytes, over the {max_bytes} byte limit")
        return self._iter_download(response)

    @staticmethod
    def _iter_download(response: httpx.Response) -> Iterator[bytes]:
        try:
            yield from response.iter_bytes(DOWNLOAD_CHUNK_BYTES)
        except httpx.TransportError as exc:
            raise ToolApiError(0, f"the download broke off ({type(exc).__name__})") from exc
        finally:
            response.close()
