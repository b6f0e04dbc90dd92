"""Lite mode: one streamed model answer, no tools."""

import time

from django.conf import settings

from sessions import eventlog
from sessions.events import MessageDeltaEvent, MessageEvent, TitleEvent

from .llm import llm_from_settings
from .prompts import LITE_SYSTEM_PROMPT, TITLE_MAX_CHARS
from .runtime import TurnContext, TurnOutcome

# Tokens are sent to readers in small batches: each delta is an event in the log.
DELTA_FLUSH_CHARS = 48
DELTA_FLUSH_SECONDS = 0.08


class DeltaBuffer:
    def __init__(self, ctx: TurnContext) -> None:
        self.ctx = ctx
        self.text = ""
        self.last_flush = time.monotonic()

    def add(self, text: str) -> None:
        self.text += text
        if len(self.text) >= DELTA_FLUSH_CHARS or time.monotonic() - self.last_flush >= DELTA_FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.text:
            self.ctx.publish(MessageDeltaEvent(delta=self.text))
            self.text = ""
        self.last_flush = time.monotonic()


def title_from_message(message: str) -> str:
    line = next((ln.strip() for ln in message.splitlines() if ln.strip()), "New chat")
    return line if len(line) <= TITLE_MAX_CHARS else line[: TITLE_MAX_CHARS - 1].rstrip() + "…"


def conversation(session_id: str, up_to_seq: int) -> list[dict[str, str]]:
    """The session's user and assistant messages up to this turn's message, oldest first."""
    events = eventlog.events_of_types(session_id, ("message",), limit=settings.CHAT_HISTORY_MESSAGES + 50)
    messages = [
        {"role": ev["role"], "content": ev["content"]} for ev in events if ev["seq"] <= up_to_seq and ev.get("content")
    ]
    return messages[-settings.CHAT_HISTORY_MESSAGES :]


def run_lite(ctx: TurnContext) -> TurnOutcome:
    if ctx.needs_title:
        ctx.publish(TitleEvent(title=title_from_message(ctx.message)), dedupe_key=f"turn:{ctx.turn_id}:title")
    messages = [{"role": "system", "content": LITE_SYSTEM_PROMPT}, *conversation(ctx.session_id, ctx.message_seq)]
    buffer = DeltaBuffer(ctx)
    completion = llm_from_settings().complete(messages, on_delta=buffer.add, should_stop=ctx.stop_requested)
    buffer.flush()
    ctx.add_usage(completion.prompt_tokens, completion.completion_tokens)
    ctx.publish(MessageEvent(role="assistant", content=completion.content), dedupe_key=f"turn:{ctx.turn_id}:answer")
    return TurnOutcome.COMPLETED
