"""The model adapter: the one module that imports the `openai` SDK.

Any OpenAI-compatible provider works: `LLM_PROVIDER=openai`, `openrouter`, or
`compatible` with `API_BASE`. Calls stream; transient failures before the first token are
retried with exponential backoff; a stop request aborts the call within a fraction of a
second, even while the provider has not answered yet.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import openai
from django.conf import settings

logger = logging.getLogger(__name__)

PROVIDER_BASES = {
    "openai": "https://api.openai.com/v1",
    "openrouter": "https://openrouter.ai/api/v1",
}
# How often a streaming call asks `should_stop` (a Redis read for a turn), whether the provider is
# silent or streaming: asking after every chunk cost ~160 reads per model call when a tool call's
# arguments stream, the largest item of an agent step's profile. A stop takes effect within this.
STOP_POLL_SECONDS = 0.2
_CONTEXT_PATTERN = re.compile(
    r"context[ _-]?(length|window)|maximum context|too many tokens|prompt is too long|input is too long|"
    r"reduce the length|exceeds the (model's )?(max|context)",
    re.IGNORECASE,
)


class LLMError(Exception):
    """A model call that failed; `user_message` says what happened and what to fix."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class LLMConfigError(LLMError):
    pass


class LLMRefusedError(LLMError):
    pass


class LLMUnavailableError(LLMError):
    pass


class LLMContextLengthError(LLMRefusedError):
    """The conversation is longer than the model's context window; the caller may compact and retry."""


class _CutStreamError(Exception):
    """The stream ended without a finish_reason: the answer was cut, not finished."""


class LLMStopped(Exception):  # noqa: N818 - a signal, not an error
    """The caller asked to stop while the model was answering."""


@dataclass(frozen=True)
class LLMConfig:
    provider: str
    base_url: str
    api_key: str
    model: str
    temperature: float
    max_tokens: int
    timeout: float
    max_retries: int
    retry_base: float


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass
class Completion:
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # What a thinking model sent in `reasoning_content` / `reasoning`: never part of the answer,
    # never sent back to the model.
    reasoning: str = ""


def llm_config() -> LLMConfig:
    """Resolve the provider settings, or say exactly which variable is missing."""
    provider = settings.LLM_PROVIDER.strip().lower() or "openai"
    base = settings.API_BASE.strip() or PROVIDER_BASES.get(provider, "")
    if not base:
        raise LLMConfigError(
            f"LLM_PROVIDER is '{provider}' but API_BASE is not set. Set API_BASE to the "
            "provider's OpenAI-compatible URL (for example http://localhost:11434/v1) in .env and restart."
        )
    provider_key = {"openai": settings.OPENAI_API_KEY, "openrouter": settings.OPENROUTER_API_KEY}.get(provider, "")
    key = settings.API_KEY.strip() or provider_key.strip()
    if not key:
        if provider in PROVIDER_BASES:
            variable = "OPENAI_API_KEY" if provider == "openai" else "OPENROUTER_API_KEY"
            raise LLMConfigError(
                f"No API key is configured for the model provider '{provider}'. "
                f"Set API_KEY (or {variable}) in .env and restart Anker."
            )
        key = "not-needed"  # local OpenAI-compatible servers often take no key
    return LLMConfig(
        provider=provider,
        base_url=base,
        api_key=key,
        model=settings.MODEL_NAME,
        temperature=settings.TEMPERATURE,
        max_tokens=settings.MAX_TOKENS,
        timeout=settings.LLM_TIMEOUT_SECONDS,
        max_retries=settings.LLM_MAX_RETRIES,
        retry_base=settings.LLM_RETRY_BASE_SECONDS,
    )


_CLIENTS_MAX = 32
_clients: dict[tuple[int, str, str, float, bool], openai.OpenAI] = {}
_clients_guard = threading.Lock()


def _shared_client(config: LLMConfig) -> openai.OpenAI:
    """One SDK client per provider endpoint and key in a process, shared by its turns.

    Building one loads an SSL context from the CA bundle whatever the URL's scheme (~0.3 s
    measured on the loaded 2-core machine), which every turn used to pay. The client (an httpx
    connection pool) is thread-safe; keyed by pid too, so a forked child builds its own."""
    openrouter = config.provider == "openrouter"
    key = (os.getpid(), config.base_url, config.api_key, config.timeout, openrouter)
    with _clients_guard:
        client = _clients.get(key)
        if client is None:
            if len(_clients) >= _CLIENTS_MAX:  # a bounded cache; a dropped client closes when unused
                _clients.pop(next(iter(_clients)))
            client = _clients[key] = openai.OpenAI(
                base_url=config.base_url,
                api_key=config.api_key,
                timeout=config.timeout,
                max_retries=0,
                default_headers={"X-Title": "Anker"} if openrouter else None,
            )
        return client


class LLM:
    def __init__(self, config: LLMConfig) -> None:
        self.config = config
        self._client = _shared_client(config)
        # Set when the server refused tool_choice="required" (vLLM without guided decoding, some
        # Ollama/LM Studio builds, several OpenRouter routes): later calls send "auto"; the agent's
        # text nudge covers a model that then answers in text.
        self.required_refused = False

    def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | None = None,
        on_delta: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Completion:
        """Stream one completion. Raises LLMStopped, LLMRefusedError (LLMContextLengthError when the
        conversation is too long) or LLMUnavailableError.

        A failure before the user saw any text is retried (connection errors, 429/5xx, a stream cut
        without a finish_reason); after that it is reported. A server refusing
        tool_choice="required" is asked again with "auto" (and remembered)."""
        attempt = 0
        while True:
            started = False  # text reached the user (on_delta): a retry would show it twice

            def delta(text: str) -> None:
                nonlocal started
                if on_delta is not None:
                    started = True
                    on_delta(text)

            choice = tool_choice
            if choice == "required" and self.required_refused:
                choice = "auto"
            try:
                return self._stream_once(messages, tools, choice, delta, should_stop)
            except (
                openai.APIConnectionError,
                openai.RateLimitError,
                openai.InternalServerError,
                _CutStreamError,
            ) as exc:
                attempt += 1
                if started or attempt > self.config.max_retries:
                    raise LLMUnavailableError(self._unavailable_message(exc, attempt)) from exc
                delay = self._retry_delay(exc, attempt)
                logger.warning("model call failed (%s), retry %d in %.1fs", type(exc).__name__, attempt, delay)
                self._sleep(delay, should_stop)
            except openai.APIStatusError as exc:
                if choice == "required" and tools and _refuses_required(exc):
                    logger.warning(
                        "model %s refused tool_choice=required (%s); using auto", self.config.model, exc.status_code
                    )
                    self.required_refused = True
                    continue
                if _is_context_length(exc):
                    raise LLMContextLengthError(self._refused_message(exc)) from exc
                raise LLMRefusedError(self._refused_message(exc)) from exc

    def _stream_once(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        tool_choice: str | None,
        on_delta: Callable[[str], None],
        should_stop: Callable[[], bool],
    ) -> Completion:
        kwargs: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            kwargs["tools"] = tools
            if tool_choice:
                kwargs["tool_choice"] = tool_choice
        # The HTTP call runs in a helper thread so this one can notice a stop request while
        # the provider is silent; on stop the stream is closed and the helper unwinds.
        chunks: queue.Queue[tuple[str, Any]] = queue.Queue()
        holder: dict[str, Any] = {}

        def pump() -> None:
            try:
                stream = self._client.chat.completions.create(**kwargs)
                holder["stream"] = stream
                for chunk in stream:
                    chunks.put(("chunk", chunk))
                chunks.put(("end", None))
            except BaseException as exc:  # handed to the caller's thread
                chunks.put(("error", exc))

        threading.Thread(target=pump, name="llm-stream", daemon=True).start()
        result = Completion()
        calls: dict[int, ToolCall] = {}
        next_check = time.monotonic() + STOP_POLL_SECONDS
        while True:
            try:
                kind, item = chunks.get(timeout=max(0.0, next_check - time.monotonic()))
            except queue.Empty:
                kind, item = "quiet", None
            if kind == "error":
                raise item
            if kind == "end":
                break
            if kind == "chunk":
                self._absorb(item, result, calls, on_delta)
            now = time.monotonic()
            if now >= next_check:
                next_check = now + STOP_POLL_SECONDS
                if should_stop():
                    self._close(holder)
                    raise LLMStopped()
        if result.finish_reason is None:
            raise _CutStreamError("the stream ended without a finish_reason")
        result.tool_calls = [calls[i] for i in sorted(calls)]
        return result

    @staticmethod
    def _absorb(chunk: Any, result: Completion, calls: dict[int, ToolCall], on_delta: Callable[[str], None]) -> None:
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            result.prompt_tokens = int(usage.prompt_tokens or 0)
            result.completion_tokens = int(usage.completion_tokens or 0)
        for choice in chunk.choices or []:
            delta = choice.delta
            thinking = _reasoning_of(delta)
            if thinking:
                result.reasoning += thinking
            if delta is not None and delta.content:
                result.content += delta.content
                on_delta(delta.content)
            for call in (delta.tool_calls if delta is not None else None) or []:
                entry = calls.setdefault(call.index, ToolCall(id="", name="", arguments=""))
                if call.id:
                    entry.id = call.id
                if call.function is not None:
                    entry.name += call.function.name or ""
                    entry.arguments += call.function.arguments or ""
            if choice.finish_reason:
                result.finish_reason = choice.finish_reason

    @staticmethod
    def _close(holder: dict[str, Any]) -> None:
        stream = holder.get("stream")
        if stream is not None:
            try:
                stream.close()
            except Exception:  # closing an aborted stream may raise; nothing to recover
                logger.debug("closing an aborted stream failed", exc_info=True)

    def _retry_delay(self, exc: Exception, attempt: int) -> float:
        delay = self.config.retry_base * (2 ** (attempt - 1))
        response = getattr(exc, "response", None)
        if response is not None:
            retry_after = response.headers.get("retry-after")
            if retry_after and retry_after.replace(".", "", 1).isdigit():
                delay = max(delay, float(retry_after))
        return min(delay, 30.0)

    @staticmethod
    def _sleep(seconds: float, should_stop: Callable[[], bool]) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if should_stop():
                raise LLMStopped()
            time.sleep(min(STOP_POLL_SECONDS, max(0.0, deadline - time.monotonic())))

    def _redact(self, text: str) -> str:
        return text.replace(self.config.api_key, "***") if self.config.api_key else text

    def _provider_detail(self, exc: openai.APIStatusError) -> str:
        body = exc.body if isinstance(exc.body, dict) else {}
        detail = body.get("message") if isinstance(body.get("message"), str) else None
        return self._redact(detail or str(exc.message))

    def _refused_message(self, exc: openai.APIStatusError) -> str:
        status, detail = exc.status_code, self._provider_detail(exc)
        if status == 401:
            return (
                f"The model provider rejected the API key (HTTP 401: {detail}). "
                "Check API_KEY (or OPENAI_API_KEY / OPENROUTER_API_KEY) in .env and restart Anker."
            )
        if status == 403:
            return f"The model provider refused access (HTTP 403: {detail}). Check the key's permissions."
        if status == 404:
            return (
                f"The model provider answered 404 ({detail}). Check MODEL_NAME "
                f"('{self.config.model}') and API_BASE ('{self.config.base_url}')."
            )
        return f"The model provider refused the request (HTTP {status}: {detail})."

    def _unavailable_message(self, exc: Exception, attempts: int) -> str:
        if isinstance(exc, _CutStreamError):
            return (
                f"The model's answer was cut off (the stream from {self.config.base_url} ended without a "
                f"finish reason) after {attempts} attempt(s). Try again; if it keeps happening, check the "
                "model server's logs and its output-length limit."
            )
        if isinstance(exc, openai.APIStatusError):
            what = f"HTTP {exc.status_code}: {self._provider_detail(exc)}"
        elif isinstance(exc, openai.APITimeoutError):
            what = f"no answer within {self.config.timeout:.0f}s"
        else:
            what = f"could not connect to {self.config.base_url}"
        return f"The model provider is unavailable ({what}) after {attempts} attempt(s). Try again later."


def _reasoning_of(delta: Any) -> str:
    """A thinking model's reasoning delta: `reasoning_content` (DeepSeek, vLLM, LM Studio) or
    `reasoning` (OpenRouter, Ollama). The SDK keeps such unknown fields as extra attributes."""
    if delta is None:
        return ""
    for name in ("reasoning_content", "reasoning"):
        value = getattr(delta, name, None)
        if isinstance(value, str) and value:
            return value
    return ""


def _error_text(exc: openai.APIStatusError) -> tuple[str, str, str]:
    body: dict[str, Any] = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error")
    inner: dict[str, Any] = error if isinstance(error, dict) else body
    message, code, param = inner.get("message"), inner.get("code"), inner.get("param")
    return (
        message if isinstance(message, str) else str(exc.message),
        code if isinstance(code, str) else "",
        param if isinstance(param, str) else "",
    )


def _refuses_required(exc: openai.APIStatusError) -> bool:
    """A 400/422 about tool_choice: the server does not support "required"."""
    if exc.status_code not in (400, 422):
        return False
    message, _code, param = _error_text(exc)
    return param == "tool_choice" or "tool_choice" in message or "tool choice" in message.lower()


def _is_context_length(exc: openai.APIStatusError) -> bool:
    if exc.status_code not in (400, 413, 422):
        return False
    message, code, _param = _error_text(exc)
    return code in ("context_length_exceeded", "string_above_max_length") or bool(_CONTEXT_PATTERN.search(message))


def model_problem() -> str | None:
    """Why no model would answer (a missing key or base URL), or None when one is configured."""
    try:
        llm_config()
    except LLMConfigError as exc:
        return str(exc)
    return None


def llm_from_settings() -> LLM:
    return LLM(llm_config())


def as_openai_messages(history: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"role": role, "content": content} for role, content in history]
