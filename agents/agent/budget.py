"""What a turn may spend: the deadline (TURN_DEADLINE_SECONDS), the model rounds
(AGENT_MAX_STEPS, counted across a resume in `AgentState.turn_rounds`), the text nudges
(AGENT_TEXT_NUDGES) and the context window (a provider that says the conversation is too long
gets it compacted to half, once). A spent budget ends the turn with an `AgentLimitError` whose
`user_message` says which, and how to go on."""

from __future__ import annotations

import time
from collections.abc import Iterable

from django.conf import settings

from ..memory import AgentState, Message, compact, estimate_tokens


class AgentLimitError(Exception):
    """The turn hit AGENT_MAX_STEPS or TURN_DEADLINE_SECONDS; `user_message` says which."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


def turn_deadline(started: float) -> float:
    """When a turn that started at `started` (epoch seconds; a resumed turn keeps its first start) ends."""
    return started + settings.TURN_DEADLINE_SECONDS


def deadline_check(deadline: float) -> None:
    if time.time() > deadline:
        raise AgentLimitError(
            f"The task ran longer than TURN_DEADLINE_SECONDS ({settings.TURN_DEADLINE_SECONDS} s) and was "
            "ended. Send a message to continue from where it stopped."
        )


def round_count(state: AgentState) -> None:
    """Count one model round of the turn; past AGENT_MAX_STEPS the turn ends."""
    state.turn_rounds += 1
    if state.turn_rounds > settings.AGENT_MAX_STEPS:
        raise AgentLimitError(
            f"The task used its {settings.AGENT_MAX_STEPS} model rounds (AGENT_MAX_STEPS) and was ended. "
            "Send a message to continue from where it stopped, or raise AGENT_MAX_STEPS."
        )


def nudges_spent(tools: Iterable[str]) -> AgentLimitError:
    """The error for a model that never called one of `tools` in AGENT_TEXT_NUDGES + 1 attempts."""
    return AgentLimitError(
        f"The model did not call {' or '.join(tools)} after {settings.AGENT_TEXT_NUDGES + 1} attempts, so the "
        "task could not go on. Try again, or use a model with reliable tool calling."
    )


def context_halve(messages: list[Message]) -> bool:
    """The model's window is smaller than AGENT_CONTEXT_TOKENS assumed: compact `messages` in place
    to half their size. False (nothing changed) when compacting would not make them smaller."""
    smaller = compact(messages, budget=estimate_tokens(messages) // 2)
    if estimate_tokens(smaller) >= estimate_tokens(messages):
        return False
    messages[:] = smaller
    return True
