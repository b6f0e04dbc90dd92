"""A scripted, OpenAI-compatible Chat Completions server for tests.

    with ScriptedLLM() as llm:
        llm.push(text("Hello!"), tool_calls([ToolCall("search", {"q": "x"})]))
        client = OpenAI(base_url=llm.base_url, api_key=llm.api_key)

Each ``POST /v1/chat/completions`` is answered by: the first matching rule (``on``), else the FIFO
(``push``), else the default (``set_default``), else HTTP 500 "no scripted reply for request: <last
user message>" (sent with ``x-should-retry: false``, so the SDK does not retry it).

``emissions`` logs when each streamed content delta left the server (the benchmarks measure
what a relay adds from that moment on).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._http import JSONHandler, LoopbackServer

Matcher = Callable[[dict], bool]
_ERROR_DEFAULTS: dict[int, tuple[str, str | None, str]] = {  # status -> (type, code, message)
    400: ("invalid_request_error", None, "Bad request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


@dataclass(frozen=True)
class TextReply:
    content: str
    chunk_size: int = 4
    delay_per_chunk: float = 0.0
    usage: tuple[int, int] | None = None
    reasoning: str | None = None  # streamed first, in the `reasoning_field` delta field (thinking models)
    reasoning_field: str = "reasoning_content"  # DeepSeek/vLLM: reasoning_content; OpenRouter/Ollama: reasoning
    finish: bool = True  # False: the stream ends ([DONE]) without ever sending a finish_reason


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict | str  # a str is sent verbatim (may be malformed JSON on purpose)
    id: str | None = None  # None -> a fresh "call_..." id per response

    @property
    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass(frozen=True)
class ToolCallsReply:
    calls: tuple[ToolCall, ...]
    content: str | None = None
    chunk_size: int = 4
    usage: tuple[int, int] | None = None
    delay_per_chunk: float = 0.0
    reasoning: str | None = None
    reasoning_field: str = "reasoning_content"
    finish: bool = True


@dataclass(frozen=True)
class ErrorReply:
    status: int
    message: str
    type: str | None
    code: str | None
    param: str | None = None
    retry_after: float | None = None
    should_retry: bool | None = None


@dataclass(frozen=True)
class SlowReply:
    reply: Reply
    delay: float


@dataclass(frozen=True)
class HeldReply:
    reply: Reply
    gate: threading.Event
    timeout: float


@dataclass(frozen=True)
class DropReply:
    partial: str = ""
    hang: float = 0.0
    chunk_size: int = 4


Reply = TextReply | ToolCallsReply | ErrorReply | SlowReply | HeldReply | DropReply


@dataclass(frozen=True)
class Emission:
    """One streamed content delta, as the server sent it."""

    at: float  # time.time() right after its HTTP chunk was written to the socket
    request: int  # the request it answers: an index into ``ScriptedLLM.requests``
    text: str


def text(
    content: str,
    *,
    chunk_size: int = 4,
    delay_per_chunk: float = 0.0,
    usage: tuple[int, int] | None = None,
    reasoning: str | None = None,
    reasoning_field: str = "reasoning_content",
    finish: bool = True,
) -> TextReply:
    """Assistant text; streamed in ``chunk_size``-char deltas. ``usage=(prompt, completion)``, else estimated.

    ``reasoning`` is sent first in the ``reasoning_field`` delta field (``reasoning_content`` or ``reasoning``);
    ``finish=False`` ends the stream cleanly without a ``finish_reason`` (a cut answer)."""
    return TextReply(content, max(1, chunk_size), delay_per_chunk, usage, reasoning, reasoning_field, finish)


def tool_calls(
    calls: Sequence[ToolCall],
    content: str | None = None,
    *,
    chunk_size: int = 4,
    usage: tuple[int, int] | None = None,
    reasoning: str | None = None,
    reasoning_field: str = "reasoning_content",
    finish: bool = True,
) -> ToolCallsReply:
    """Native tool calls (``finish_reason="tool_calls"``); arguments stream in ``chunk_size``-char fragments."""
    return ToolCallsReply(tuple(calls), content, max(1, chunk_size), usage, 0.0, reasoning, reasoning_field, finish)


def error(
    status: int,
    message: str | None = None,
    *,
    type: str | None = None,
    code: str | None = None,
    param: str | None = None,
    retry_after: float | None = None,
    should_retry: bool | None = None,
) -> ErrorReply:
    """HTTP error with OpenAI's body ``{"error": {message, type, param, code}}``; unset fields default per status
    (pass ``code=""`` to send ``null``).

    ``retry_after`` sets the ``retry-after`` header, ``should_retry`` the ``x-should-retry`` header (SDK obeys both).
    """
    fallback = ("server_error" if status >= 500 else "invalid_request_error", None, f"HTTP {status}")
    d_type, d_code, d_msg = _ERROR_DEFAULTS.get(status, fallback)
    code = (d_code if code is None else code) or None
    return ErrorReply(status, message or d_msg, type or d_type, code, param, retry_after, should_retry)


def slow(reply: Reply, delay_before_first_byte: float) -> SlowReply:
    """Wait before answering; the wait ends early if the client disconnects or the server stops."""
    return SlowReply(reply, delay_before_first_byte)


def held(reply: Reply, gate: threading.Event, *, timeout: float = 120.0) -> HeldReply:
    """Answer once the test sets ``gate`` (at most ``timeout`` s later): every request answered so
    waits, so a test can look at what waits on the model; ends early like ``slow``."""
    return HeldReply(reply, gate, timeout)


def hang_then_drop(partial: str = "", *, hang: float = 0.0, chunk_size: int = 4) -> DropReply:
    """Stream: send ``partial`` text, hang ``hang`` s, close the socket mid-stream. Non-stream: hang, close."""
    return DropReply(partial, hang, max(1, chunk_size))


def last_user_message(body: dict) -> str:
    """Text of the last ``role == "user"`` message (content parts joined), or ``""``."""
    for msg in reversed(body.get("messages") or []):
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def user_contains(substring: str) -> Matcher:
    """Matcher: the last user message contains ``substring`` (case-insensitive)."""
    return lambda body: substring.lower() in last_user_message(body).lower()


def has_tool_result(body: dict) -> bool:
    """Matcher: the conversation already contains a ``role == "tool"`` message."""
    return any(isinstance(m, dict) and m.get("role") == "tool" for m in body.get("messages") or [])


@dataclass
class _Rule:
    match: Matcher
    reply: Reply
    times: int | None


class _DroppedError(Exception):
    pass


class ScriptedLLM(LoopbackServer):
    """Scripted OpenAI-compatible server (``/v1/chat/completions``, ``/v1/models``) on loopback."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str = "test-key",
        models: Sequence[str] = ("gpt-4o-mini", "gpt-4o"),
    ) -> None:
        super().__init__(host, port)
        self.api_key, self.models = api_key, list(models)
        self._lock = threading.Condition()
        self._fifo: deque[Reply] = deque()
        self._rules: list[_Rule] = []
        self._default: Reply | None = None
        self._requests: list[dict] = []
        self._emissions: list[Emission] = []

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` — pass as ``OpenAI(base_url=...)``."""
        return f"{self.root_url}/v1"

    @property
    def requests(self) -> list[dict]:
        """Snapshot of every chat-completions request body received, in order (incl. rejected ones)."""
        with self._lock:
            return list(self._requests)

    @property
    def emissions(self) -> list[Emission]:
        """Snapshot of every streamed content delta sent (text answers' and tool calls' ``content``), in order."""
        with self._lock:
            return list(self._emissions)

    def _emitted(self, request: int, text: str) -> None:
        with self._lock:
            self._emissions.append(Emission(time.time(), request, text))

    @property
    def pending(self) -> int:
        """Number of FIFO replies not yet consumed."""
        with self._lock:
            return len(self._fifo)

    def push(self, *replies: Reply) -> None:
        """Append replies to the FIFO; each request not matched by a rule consumes one."""
        with self._lock:
            self._fifo.extend(replies)

    def on(self, match: Matcher, reply: Reply, *, times: int | None = None) -> None:
        """Add a rule (``match(body) -> bool``); first matching rule beats the FIFO. ``times=None``: unlimited.
        A matcher raising LookupError/TypeError/AttributeError/ValueError counts as no match."""
        with self._lock:
            self._rules.append(_Rule(match, reply, times))

    def set_default(self, reply: Reply | None) -> None:
        """Reply used when no rule matches and the FIFO is empty; ``None`` → HTTP 500."""
        with self._lock:
            self._default = reply

    def reset(self) -> None:
        """Clear FIFO, rules, recorded requests and default."""
        with self._lock:
            self._fifo.clear()
            self._rules.clear()
            self._requests.clear()
            self._emissions.clear()
            self._default = None

    def wait_for_requests(self, n: int, timeout: float) -> list[dict]:
        """Block until at least ``n`` requests were received (returns them); ``TimeoutError`` otherwise."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._requests) >= n, timeout):
                raise TimeoutError(f"expected {n} LLM requests within {timeout}s, got {len(self._requests)}")
            return list(self._requests)

    def _record_and_resolve(self, body: dict, authorized: bool) -> tuple[int, Reply | None]:
        """The request's index in ``requests`` and its reply (None: unauthorized, or nothing scripted)."""
        with self._lock:
            index = len(self._requests)
            self._requests.append(body)
            self._lock.notify_all()
            if not authorized:
                return index, None
            for rule in self._rules:
                try:
                    matched = (rule.times is None or rule.times > 0) and bool(rule.match(body))
                except (LookupError, TypeError, AttributeError, ValueError):
                    matched = False
                if matched:
                    if rule.times is not None:
                        rule.times -= 1
                    return index, rule.reply
            return index, (self._fifo.popleft() if self._fifo else self._default)


def _usage(body: dict, produced: str, usage: tuple[int, int] | None) -> dict:
    if usage is None:  # rough 4-chars-per-token estimate
        usage = (max(1, len(json.dumps(body.get("messages", []))) // 4), max(1, len(produced) // 4))
    return {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": usage[0] + usage[1]}


def _pieces(s: str, size: int) -> list[str]:
    return [s[i : i + size] for i in range(0, len(s), size)]


def _call_id(call: ToolCall) -> str:
    return call.id or f"call_{uuid.uuid4().hex[:24]}"


class _LLMHandler(JSONHandler):
    owner: ScriptedLLM
    request_index = -1  # of the request being answered, in ``owner.requests``

    def _route(self) -> str:
        path = self.path.split("?", 1)[0].rstrip("/")
        return path[3:] if path.startswith("/v1/") else path

    def _error(self, reply: ErrorReply) -> None:
        headers = {"x-request-id": f"req_{uuid.uuid4().hex}"}
        if reply.retry_after is not None:
            headers["retry-after"] = f"{reply.retry_after:g}"
        if reply.should_retry is not None:
            headers["x-should-retry"] = str(reply.should_retry).lower()
        body = {"error": {"message": reply.message, "type": reply.type, "param": reply.param, "code": reply.code}}
        self.send_json(reply.status, body, headers)

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        return auth.startswith("Bearer ") and auth[7:].strip() == self.owner.api_key

    def _check_auth(self) -> bool:
        """True if authorized; otherwise sends OpenAI's 401 and returns False."""
        if self._authorized():
            return True
        if not self.headers.get("Authorization"):
            self._error(
                error(
                    401,
                    "You didn't provide an API key. You need to provide your API key in an "
                    "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                    code="",
                )
            )
        else:  # real OpenAI echoes a masked key; we echo nothing, so no key lands in test output
            self._error(
                error(
                    401,
                    "Incorrect API key provided. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                )
            )
        return False

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        if self._route() != "/models":
            self._error(error(404, f"Invalid URL (GET {self.path})", code=""))
        elif self._check_auth():
            data = [
                {"id": m, "object": "model", "created": 1700000000, "owned_by": "anker-tests"}
                for m in self.owner.models
            ]
            self.send_json(200, {"object": "list", "data": data})

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        raw = self.read_body()
        if self._route() != "/chat/completions":
            return self._error(error(404, f"Invalid URL (POST {self.path})", code=""))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._error(error(400, "We could not parse the JSON body of your request."))
        self.request_index, reply = self.owner._record_and_resolve(body, self._authorized())
        if not self._check_auth():
            return None
        if reply is None:
            return self._error(
                error(
                    500,
                    f"no scripted reply for request: {last_user_message(body)!r}",
                    code="no_scripted_reply",
                    should_retry=False,
                )
            )
        try:
            return self._serve(reply, body)
        except _DroppedError:
            return self.drop()

    def _serve(self, reply: Reply, body: dict) -> None:
        stream = bool(body.get("stream"))
        if isinstance(reply, SlowReply):
            if not self.owner.sleep(reply.delay, self.connection):
                raise _DroppedError
            self._serve(reply.reply, body)
        elif isinstance(reply, HeldReply):
            deadline = time.monotonic() + reply.timeout
            while not reply.gate.is_set() and time.monotonic() < deadline:
                if not self.owner.sleep(0.02, self.connection):
                    raise _DroppedError
            self._serve(reply.reply, body)
        elif isinstance(reply, ErrorReply):
            self._error(reply)
        elif isinstance(reply, DropReply):
            if stream:
                self._stream(body, TextReply(reply.partial, reply.chunk_size), complete=False)
            self.owner.sleep(reply.hang, self.connection)
            raise _DroppedError
        elif stream:
            self._stream(body, reply)
        else:
            self.send_json(200, self._completion(body, reply))

    def _envelope(self, body: dict, obj: str) -> dict:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": obj,
            "created": int(time.time()),
            "model": body.get("model") or self.owner.models[0],
            "system_fingerprint": "fp_scripted",
            "service_tier": "default",
        }

    def _completion(self, body: dict, reply: TextReply | ToolCallsReply) -> dict:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None, "annotations": []}
        if reply.reasoning is not None:
            message[reply.reasoning_field] = reply.reasoning
        finish, produced = "stop", reply.content or ""
        if isinstance(reply, ToolCallsReply):
            message["tool_calls"] = [
                {"id": _call_id(c), "type": "function", "function": {"name": c.name, "arguments": c.arguments_json}}
                for c in reply.calls
            ]
            finish, produced = "tool_calls", produced + "".join(c.arguments_json for c in reply.calls)
        return {
            **self._envelope(body, "chat.completion"),
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": _usage(body, produced, reply.usage),
        }

    def _stream(self, body: dict, reply: TextReply | ToolCallsReply, complete: bool = True) -> None:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        envelope = self._envelope(body, "chat.completion.chunk")
        self.send_response(200)
        for key, value in (
            ("Content-Type", "text/event-stream; charset=utf-8"),
            ("Cache-Control", "no-cache"),
            ("Transfer-Encoding", "chunked"),
            ("x-request-id", f"req_{uuid.uuid4().hex}"),
        ):
            self.send_header(key, value)
        self.end_headers()

        def frame(payload: str) -> None:  # one SSE event = one HTTP chunk
            data = f"data: {payload}\n\n".encode()
            self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))

        def chunk(delta: dict, finish_reason: str | None = None) -> None:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            frame(json.dumps({**envelope, "choices": [choice], **({"usage": None} if include_usage else {})}))

        chunk({"role": "assistant", "content": None if reply.content is None else "", "refusal": None})
        for piece in _pieces(reply.reasoning or "", reply.chunk_size):
            chunk({"content": None, reply.reasoning_field: piece})
        for piece in _pieces(reply.content or "", reply.chunk_size):
            if reply.delay_per_chunk and not self.owner.sleep(reply.delay_per_chunk, self.connection):
                raise _DroppedError
            chunk({"content": piece})
            self.owner._emitted(self.request_index, piece)
        produced = reply.content or ""
        for i, call in enumerate(reply.calls if isinstance(reply, ToolCallsReply) else ()):
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": _call_id(call),
                            "type": "function",
                            "function": {"name": call.name, "arguments": ""},
                        }
                    ]
                }
            )
            for fragment in _pieces(call.arguments_json, reply.chunk_size):
                chunk({"tool_calls": [{"index": i, "function": {"arguments": fragment}}]})
            produced += call.arguments_json
        if complete:
            if reply.finish:
                chunk({}, "tool_calls" if isinstance(reply, ToolCallsReply) else "stop")
            if include_usage:
                frame(json.dumps({**envelope, "choices": [], "usage": _usage(body, produced, reply.usage)}))
            frame("[DONE]")
            self.wfile.write(b"0\r\n\r\n")


ScriptedLLM.handler_class = _LLMHandler
