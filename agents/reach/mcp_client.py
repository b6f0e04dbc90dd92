"""The only module that speaks MCP (the `mcp` SDK): per turn, connections to the MCP servers
the agent may use, opened on first use and closed with the turn.

- stdio servers run inside the session's sandbox: the tool API starts the process and relays
  its JSON-RPC lines (`/mcp/start|send|recv|stop`), with the sandbox's token like every call;
- streamable-HTTP servers are called from the worker, only to addresses the policy allows
  (`anker_project.net`, the webhooks' policy): every request goes to the address that was
  checked, so a name that later resolves elsewhere (DNS rebinding) is refused.

The SDK is async; the agent is not. A hub runs its own event loop on a thread and the agent
waits on it with a deadline. Every failure becomes `McpError` with a readable message.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import re
import threading
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import anyio
import httpx2
import mcp_types
from django.conf import settings
from mcp import Client
from mcp.shared.message import SessionMessage
from pydantic import BaseModel, ValidationError

from anker_project.net import AddressRefusedError, public_addresses
from anker_project.redis_client import get_redis
from sandboxes.tool_api import ToolApiClient, ToolApiError

logger = logging.getLogger(__name__)

T = TypeVar("T")
RECV_WAIT_SECONDS = 10.0
CACHE_PREFIX = "mcp:tools:"


class McpError(Exception):
    """An MCP server could not be reached, did not answer, or refused; the message says why."""


class McpServerSpec(BaseModel):
    """One server as a turn uses it (from the DB, or from a job's body)."""

    name: str
    transport: Literal["stdio", "http"]
    command: list[str] = []
    env: dict[str, str] = {}
    url: str = ""
    headers: dict[str, str] = {}

    def secret_refs(self) -> set[str]:
        """Names of the owner's secrets `${NAME}` in env or headers refers to."""
        values = [*self.env.values(), *self.headers.values()]
        return {m for v in values for m in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]{0,127})\}", v)}

    def cache_key(self) -> str:
        return CACHE_PREFIX + hashlib.sha256(self.model_dump_json().encode()).hexdigest()


@dataclass(frozen=True)
class McpToolInfo:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass
class McpCallResult:
    text: str
    images: list[tuple[str, bytes]] = field(default_factory=list)  # (mime type, bytes)
    is_error: bool = False


def _reason(exc: BaseException) -> str:
    """A readable one-liner for what went wrong, through exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(dict.fromkeys(_reason(inner) for inner in exc.exceptions))
    if isinstance(exc, McpError):
        return str(exc)
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "it did not answer in time"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def url_check(url: str) -> list[str]:
    """The addresses an HTTP server's URL may be reached at; McpError says why not."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise McpError("the url must be an http or https URL with a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise McpError(f"the url has a bad port: {exc}") from exc
    try:
        return public_addresses(parts.hostname, port, allow_private=settings.MCP_ALLOW_PRIVATE_TARGETS)
    except AddressRefusedError as exc:
        raise McpError(f"the url is not allowed: {exc} (MCP_ALLOW_PRIVATE_TARGETS)") from exc


class _PinnedTransport(httpx2.AsyncHTTPTransport):
    """Sends every request to an address checked by the policy just before, with the original
    Host header and TLS server name."""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        host = request.url.host
        try:
            addresses = await anyio.to_thread.run_sync(url_check, str(request.url))
        except McpError as exc:
            raise httpx2.ConnectError(str(exc), request=request) from exc
        request.url = request.url.copy_with(host=addresses[0])
        request.extensions = {**request.extensions, "sni_hostname": host}
        return await super().handle_async_request(request)


@asynccontextmanager
async def _sandbox_stdio(
    tool_api: ToolApiClient, server_id: str, command: list[str], env: dict[str, str], stderr: list[str]
) -> AsyncIterator[tuple[Any, Any]]:
    """An MCP transport over the tool API's relay of a process in the sandbox."""
    read_send, read_recv = anyio.create_memory_object_stream[SessionMessage | Exception](100)
    write_send, write_recv = anyio.create_memory_object_stream[SessionMessage](100)
    try:
        await anyio.to_thread.run_sync(partial(tool_api.mcp_start, id=server_id, command=command, env=env))
    except ToolApiError as exc:
        raise McpError(f"the sandbox could not start it: {exc.message}") from exc

    async def outbound() -> None:
        async with write_recv:
            async for message in write_recv:
                payload = message.message.model_dump(by_alias=True, mode="json", exclude_unset=True)
                try:
                    await anyio.to_thread.run_sync(partial(tool_api.mcp_send, id=server_id, message=payload))
                except ToolApiError as exc:
                    stderr.append(exc.message)
                    await read_send.aclose()
                    return

    async def inbound() -> None:
        async with read_send:
            while True:
                try:
                    data = await anyio.to_thread.run_sync(
                        partial(tool_api.mcp_recv, id=server_id, wait_seconds=RECV_WAIT_SECONDS),
                        abandon_on_cancel=True,
                    )
                except ToolApiError as exc:
                    stderr.append(exc.message)
                    return
                if data.get("stderr"):
                    stderr[:] = [str(data["stderr"])]
                for raw in data.get("messages", []):
                    try:
                        parsed = mcp_types.jsonrpc_message_adapter.validate_python(raw, by_name=False)
                    except ValidationError as exc:
                        await read_send.send(exc)
                        continue
                    await read_send.send(SessionMessage(parsed))
                if data.get("exited"):
                    stderr.append(f"the server exited with status {data.get('returncode')}")
                    return

    async with anyio.create_task_group() as group:
        group.start_soon(outbound)
        group.start_soon(inbound)
        try:
            yield read_recv, write_send
        finally:
            group.cancel_scope.cancel()
            with anyio.CancelScope(shield=True), anyio.move_on_after(10), contextlib.suppress(ToolApiError):
                await anyio.to_thread.run_sync(partial(tool_api.mcp_stop, id=server_id))  # gone already: fine


def _expand(values: dict[str, str], secrets: dict[str, str]) -> dict[str, str]:
    """`${NAME}` in a value becomes the owner's secret NAME (unknown names stay as written)."""
    out = {}
    for key, value in values.items():
        for name, secret in secrets.items():
            value = value.replace("${" + name + "}", secret)
        out[key] = value
    return out


class McpHub:
    """The MCP connections of one turn. Thread-safe for one caller at a time (the agent)."""

    def __init__(self, *, tool_api: ToolApiClient, secrets: dict[str, str], session_id: str) -> None:
        self.tool_api = tool_api
        self.secrets = secrets
        self.session_id = session_id
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._clients: dict[str, Client] = {}
        self._closers: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stderr: dict[str, list[str]] = {}

    # --- the loop -------------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name="mcp-hub", daemon=True)
            self._thread.start()
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, timeout), self._loop)
        try:
            return future.result(timeout + 5)
        except TimeoutError as exc:
            future.cancel()
            raise McpError("it did not answer in time") from exc

    def close(self) -> None:
        if self._loop is None:
            return
        try:
            self._run(self._close_all(), timeout=15)
        except Exception:
            logger.warning("closing the MCP connections of session %s failed", self.session_id, exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._loop.close()
        self._loop = None

    async def _close_all(self) -> None:
        for closing in self._closers.values():
            closing.set()
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=12)

    # --- connections ----------------------------------------------------------------

    def _transport(self, spec: McpServerSpec) -> Any:
        if spec.transport == "stdio":
            stderr = self._stderr.setdefault(spec.name, [])
            server_id = f"mcp-{spec.name}"
            return _sandbox_stdio(self.tool_api, server_id, spec.command, _expand(spec.env, self.secrets), stderr)
        from mcp.client.streamable_http import streamable_http_client

        url_check(spec.url)
        headers = _expand(spec.headers, self.secrets)
        timeout = httpx2.Timeout(
            settings.MCP_CALL_TIMEOUT_SECONDS, connect=min(10.0, settings.MCP_CONNECT_TIMEOUT_SECONDS)
        )
        http = httpx2.AsyncClient(
            headers=headers, timeout=timeout, transport=_PinnedTransport(), trust_env=False, follow_redirects=False
        )
        return _owned_http(streamable_http_client(spec.url, http_client=http), http)

    async def _connect(self, spec: McpServerSpec) -> Client:
        if spec.name in self._clients:
            return self._clients[spec.name]
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[Client] = loop.create_future()
        closing = asyncio.Event()

        async def hold() -> None:
            try:
                async with Client(
                    self._transport(spec), read_timeout_seconds=settings.MCP_CALL_TIMEOUT_SECONDS
                ) as client:
                    ready.set_result(client)
                    await closing.wait()
            except BaseException as exc:
                if not ready.done():
                    ready.set_exception(McpError(_reason(exc)))
                elif not closing.is_set():
                    logger.info("MCP server %s of session %s closed: %s", spec.name, self.session_id, _reason(exc))

        task = asyncio.create_task(hold())
        try:
            client = await asyncio.wait_for(asyncio.shield(ready), settings.MCP_CONNECT_TIMEOUT_SECONDS)
        except BaseException:
            task.cancel()
            raise
        self._clients[spec.name], self._closers[spec.name], self._tasks[spec.name] = client, closing, task
        return client

    def _fail(self, spec: McpServerSpec, exc: BaseException, doing: str) -> McpError:
        self._clients.pop(spec.name, None)  # reconnect on the next call
        if closing := self._closers.pop(spec.name, None):
            closing.set()
        self._tasks.pop(spec.name, None)
        reason = _reason(exc)
        tail = " ".join(self._stderr.get(spec.name, []))[-600:].strip()
        if tail:
            reason += f" (its output: {tail})"
        return McpError(f"MCP server '{spec.name}' {doing}: {reason}")

    # --- operations -----------------------------------------------------------------

    def list_tools(self, spec: McpServerSpec, *, use_cache: bool = True) -> list[McpToolInfo]:
        """The server's tools; cached per definition for MCP_TOOLS_CACHE_SECONDS."""
        redis = get_redis()
        key = spec.cache_key()
        if use_cache and (cached := redis.get(key)):
            return [McpToolInfo(**item) for item in json.loads(cached)]

        async def fetch() -> list[McpToolInfo]:
            client = await self._connect(spec)
            tools, cursor = [], None
            for _page in range(20):
                result = await client.list_tools(cursor=cursor)
                tools += [McpToolInfo(t.name, t.description or "", dict(t.input_schema)) for t in result.tools]
                cursor = result.next_cursor
                if not cursor:
                    break
            return tools

        try:
            tools = self._run(fetch(), settings.MCP_CONNECT_TIMEOUT_SECONDS + 10)
        except BaseException as exc:
            raise self._fail(spec, exc, "could not list its tools") from exc
        if settings.MCP_TOOLS_CACHE_SECONDS > 0:
            payload = json.dumps([t.__dict__ for t in tools])
            redis.set(key, payload, ex=settings.MCP_TOOLS_CACHE_SECONDS)
        return tools

    def call(self, spec: McpServerSpec, tool: str, arguments: dict[str, Any]) -> McpCallResult:
        async def run() -> mcp_types.CallToolResult:
            client = await self._connect(spec)
            return await client.call_tool(tool, arguments)

        timeout = settings.MCP_CONNECT_TIMEOUT_SECONDS + settings.MCP_CALL_TIMEOUT_SECONDS
        try:
            result = self._run(run(), timeout)
        except BaseException as exc:
            raise self._fail(spec, exc, f"failed to run {tool}") from exc
        return _convert(result)


@asynccontextmanager
async def _owned_http(transport: Any, http: httpx2.AsyncClient) -> AsyncIterator[Any]:
    async with http, transport as streams:
        yield streams


def _convert(result: mcp_types.CallToolResult) -> McpCallResult:
    texts: list[str] = []
    images: list[tuple[str, bytes]] = []
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            texts.append(block.text)
        elif isinstance(block, mcp_types.ImageContent):
            try:
                data = base64.b64decode(block.data, validate=True)
            except ValueError:
                texts.append("[an image that was not valid base64]")
                continue
            if len(data) > settings.MCP_MAX_IMAGE_BYTES:
                texts.append(f"[an image of {len(data)} bytes, over MCP_MAX_IMAGE_BYTES, was left out]")
                continue
            images.append((block.mime_type, data))
        else:
            texts.append(f"[{getattr(block, 'type', 'unknown')} content is not shown]")
    if not texts and result.structured_content is not None:
        texts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return McpCallResult(text="\n".join(texts), images=images, is_error=bool(result.is_error))
