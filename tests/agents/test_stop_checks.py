"""How a model call notices a stop request: at most every STOP_POLL_SECONDS, whether the
provider streams or is silent, never once per streamed chunk. Real `openai` client, the
scripted OpenAI-compatible server."""

from __future__ import annotations

import time

import pytest

from agents.llm import LLM, STOP_POLL_SECONDS, LLMStopped, llm_config
from tests.support.llm_server import ScriptedLLM, ToolCall, text, tool_calls


def test_a_tool_call_streamed_in_2000_chunks_asks_for_a_stop_at_most_every_poll_interval(llm: ScriptedLLM) -> None:
    content = "x" * 2000
    llm.push(tool_calls([ToolCall("file_write", {"file": "/tmp/a.txt", "content": content})], chunk_size=1))
    asked: list[float] = []

    def should_stop() -> bool:
        asked.append(time.monotonic())
        return False

    started = time.monotonic()
    completion = LLM(llm_config()).complete([{"role": "user", "content": "write"}], should_stop=should_stop)
    elapsed = time.monotonic() - started

    assert completion.tool_calls[0].name == "file_write"
    assert content in completion.tool_calls[0].arguments  # every chunk arrived
    # Each ask comes at least STOP_POLL_SECONDS after the call started or after the ask before.
    gaps = [b - a for a, b in zip([started, *asked], asked, strict=False)]
    assert all(gap >= STOP_POLL_SECONDS for gap in gaps), gaps
    assert len(asked) <= elapsed / STOP_POLL_SECONDS


def test_a_stop_requested_mid_stream_ends_the_call_before_the_answer_does(llm: ScriptedLLM) -> None:
    answer = "word " * 400
    llm.push(text(answer, chunk_size=5, delay_per_chunk=0.02))  # 400 chunks over ~8 s
    received: list[str] = []

    with pytest.raises(LLMStopped):
        LLM(llm_config()).complete(
            [{"role": "user", "content": "talk"}], on_delta=received.append, should_stop=lambda: len(received) >= 10
        )

    assert 10 <= len(received) < 400
    assert "".join(received) == answer[: len("".join(received))]
