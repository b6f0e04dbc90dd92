"""Message toolkit: tell the user something, or ask and wait for the answer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from sessions.events import MessageEvent

from .base import Tool, ToolArgs, ToolEnv, ToolResult


class NotifyArgs(ToolArgs):
    text: str = Field(description="Message to the user, in the user's language.")
    attachments: list[str] = Field(default_factory=list, description="Absolute sandbox paths of files to attach.")


class AskArgs(ToolArgs):
    text: str = Field(description="The question to the user, in the user's language.")
    attachments: list[str] = Field(default_factory=list, description="Absolute sandbox paths of files to attach.")
    suggest_user_takeover: Literal["none", "browser"] = Field(
        default="none", description="'browser' when the user should take over the browser (log in, captcha)."
    )


def _publish(env: ToolEnv, text: str, attachments: list[str], tag: str) -> list[dict[str, Any]]:
    from agents.attachments import sandbox_files_to_store

    files = sandbox_files_to_store(
        sandbox=env.sandbox, owner_id=env.owner_id, session_id=env.ctx.session_id, paths=attachments
    )
    env.ctx.publish(
        MessageEvent(role="assistant", content=text, attachments=files),
        dedupe_key=f"turn:{env.ctx.turn_id}:tool:{env.call_id}:{tag}",
    )
    return [f.model_dump() for f in files]


def message_notify_user(env: ToolEnv, args: NotifyArgs) -> ToolResult:
    files = _publish(env, args.text, args.attachments, "notify")
    return ToolResult(output="the user was notified", content={"text": args.text, "attachments": files})


def message_ask_user(env: ToolEnv, args: AskArgs) -> ToolResult:
    files = _publish(env, args.text, args.attachments, "ask")
    return ToolResult(
        output="",  # the user's answer becomes this call's result when they reply
        content={"text": args.text, "attachments": files, "suggest_user_takeover": args.suggest_user_takeover},
        ends_turn_waiting=True,
    )


TOOLS: dict[str, Tool[Any]] = {
    "message_notify_user": Tool(
        "message_notify_user",
        "message",
        "Send the user a progress message without waiting for an answer.",
        NotifyArgs,
        message_notify_user,
    ),
    "message_ask_user": Tool(
        "message_ask_user",
        "message",
        "Ask the user a question and wait for the answer (the task pauses until they reply). "
        "Use only when you cannot go on without them.",
        AskArgs,
        message_ask_user,
    ),
}
