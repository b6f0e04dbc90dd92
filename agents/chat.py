"""Lite mode: one streamed model answer, no tools."""

from django.conf import settings

from sessions import eventlog
from sessions.events import MessageEvent, TitleEvent

from .llm import LLMContextLengthError
from .model_choice import llm_for_turn
from .prompts import LITE_SYSTEM_PROMPT, TITLE_MAX_CHARS
from .quirks import reasoning_event
from .runtime import TurnContext, TurnOutcome, db_release
from .streaming import TokenStream


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
    tokens = TokenStream(ctx.publish)
    llm = llm_for_turn(session_id=ctx.session_id, turn_id=ctx.turn_id)
    # While the model answers, the turn only publishes tokens (the event store and Redis: a
    # `message_delta` never touches the session row) and checks for a stop (Redis).
    db_release()
    try:
        try:
            completion = llm.complete(messages, on_delta=tokens.add, should_stop=ctx.stop_requested)
        except LLMContextLengthError:
            # The history is longer than the model's window: answer from the newest message alone, once.
            messages = [messages[0], messages[-1]]
            completion = llm.complete(messages, on_delta=tokens.add, should_stop=ctx.stop_requested)
    finally:
        tokens.close()  # the last frame precedes the final message (or the turn's end)
    ctx.add_usage(completion.prompt_tokens, completion.completion_tokens)
    thought = reasoning_event(completion.reasoning)
    if thought is not None:
        ctx.publish(thought, dedupe_key=f"turn:{ctx.turn_id}:reasoning")
    ctx.publish(MessageEvent(role="assistant", content=completion.content), dedupe_key=f"turn:{ctx.turn_id}:answer")
    return TurnOutcome.COMPLETED
