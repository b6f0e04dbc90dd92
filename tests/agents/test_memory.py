"""Memory compaction keeps long histories under a small budget without splitting tool-call pairs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agents.memory import DROPPED_NOTE, AgentState, compact, estimate_tokens, memory_checkpoint, memory_load


def long_conversation(rounds: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": "You are Anker."}]
    for i in range(rounds):
        messages.append({"role": "user", "content": f"Step {i}: read the log"})
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"c{i}",
                        "type": "function",
                        "function": {"name": "file_write", "arguments": json.dumps({"content": "y" * 2000})},
                    }
                ],
            }
        )
        messages.append({"role": "tool", "tool_call_id": f"c{i}", "content": "x" * 4000})
    return messages


def assert_pairs_intact(messages: list[dict[str, Any]]) -> None:
    open_calls: set[str] = set()
    for message in messages:
        if message["role"] == "tool":
            assert message["tool_call_id"] in open_calls
            open_calls.discard(message["tool_call_id"])
        else:
            assert not open_calls, "a tool call lost its result"
            open_calls = {c["id"] for c in message.get("tool_calls") or []}


def test_compaction_fits_a_long_conversation_into_a_small_budget() -> None:
    messages = long_conversation(60)
    assert estimate_tokens(messages) > 90_000

    compacted = compact(messages, budget=4000)

    assert estimate_tokens(compacted) <= 4000
    assert compacted[0] == {"role": "system", "content": "You are Anker."}
    assert compacted[1] == {"role": "user", "content": DROPPED_NOTE}
    assert compacted[-1] == messages[-1]  # the newest tool result is kept verbatim
    assert_pairs_intact(compacted)


def test_old_tool_results_are_elided_before_anything_is_dropped() -> None:
    messages = long_conversation(4)

    compacted = compact(messages, budget=estimate_tokens(messages) - 1000)

    assert len(compacted) == len(messages)
    assert compacted[3]["content"] == "[old tool output of 4000 characters elided; run the tool again if needed]"
    assert compacted[-1]["content"] == "x" * 4000
    assert_pairs_intact(compacted)


def test_a_history_within_budget_is_left_alone() -> None:
    messages = long_conversation(2)
    assert compact(messages, budget=100_000) is messages


@pytest.mark.django_db
def test_a_checkpoint_round_trips_and_is_compacted(settings: Any) -> None:
    settings.AGENT_CONTEXT_TOKENS = 3000
    state = AgentState(session_id="mem-test-1", executor=long_conversation(30), pending_ask="c29")

    memory_checkpoint(state)
    loaded = memory_load(session_id="mem-test-1")

    assert loaded.pending_ask == "c29"
    assert estimate_tokens(loaded.executor) <= 3000
    assert_pairs_intact(loaded.executor)
