from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam

from tests.support.llm_server import (
    ScriptedLLM,
    ToolCall,
    error,
    hang_then_drop,
    has_tool_result,
    slow,
    text,
    tool_calls,
    user_contains,
)

MSG: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello there"}]


def client(llm: ScriptedLLM, **kw) -> OpenAI:
    kw.setdefault("max_retries", 0)
    return OpenAI(base_url=llm.base_url, api_key=llm.api_key, **kw)


def ask(c: OpenAI, content: str = "hello there", **kw):
    return c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": content}], **kw)


def stream_all(c: OpenAI, content: str = "hello there", include_usage: bool = True):
    opts = {"stream_options": {"include_usage": True}} if include_usage else {}
    return list(ask(c, content, stream=True, **opts))


CONTENT = 'Grüße — the quick brown 🦊 jumps over the lazy dog.\nLine 2 with "quotes" and {braces}.'


def test_streamed_text_reassembles_exactly(llm):
    llm.push(text(CONTENT, chunk_size=3))
    chunks = stream_all(client(llm))
    deltas = [ch.choices[0].delta.content for ch in chunks if ch.choices and ch.choices[0].delta.content]
    assert len(deltas) > 10
    assert "".join(deltas) == CONTENT
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert {ch.object for ch in chunks} == {"chat.completion.chunk"} and len({ch.id for ch in chunks}) == 1


def test_usage_chunk_arrives_only_when_requested(llm):
    llm.push(text("hi", usage=(11, 7)), text("hi"))
    chunks = stream_all(client(llm))
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (11, 7, 18)
    assert all(ch.usage is None for ch in chunks[:-1])
    assert all(ch.usage is None and ch.choices for ch in stream_all(client(llm), include_usage=False))


def test_non_stream_text(llm):
    llm.push(text(CONTENT, usage=(3, 4)))
    r = ask(client(llm))
    assert r.object == "chat.completion" and r.model == "gpt-4o-mini"
    assert r.choices[0].message.content == CONTENT and r.choices[0].finish_reason == "stop"
    assert r.usage.total_tokens == 7


def test_streamed_tool_call_arguments_reassemble(llm):
    args = {"query": "weather in Zürich", "limit": 3, "nested": {"a": [1, 2, None], "b": 'x"y'}}
    llm.push(
        tool_calls(
            [ToolCall("web_search", args, id="call_A"), ToolCall("noop", {})], content="Let me look.", chunk_size=5
        )
    )
    chunks = stream_all(client(llm))
    calls: dict[int, dict] = {}
    content = ""
    for ch in chunks:
        if not ch.choices:
            continue
        content += ch.choices[0].delta.content or ""
        for tc in ch.choices[0].delta.tool_calls or []:
            slot = calls.setdefault(tc.index, {"id": None, "name": "", "args": ""})
            slot["id"] = slot["id"] or tc.id
            slot["name"] += (tc.function.name or "") if tc.function else ""
            slot["args"] += (tc.function.arguments or "") if tc.function else ""
    assert content == "Let me look."
    assert calls[0]["id"] == "call_A" and calls[0]["name"] == "web_search"
    assert calls[0]["args"] == json.dumps(args) and json.loads(calls[0]["args"]) == args
    assert calls[1]["name"] == "noop" and calls[1]["id"].startswith("call_") and calls[1]["args"] == "{}"
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "tool_calls"
    assert sum(1 for ch in chunks if ch.choices and ch.choices[0].delta.tool_calls) > 5  # really fragmented


def test_non_stream_tool_calls(llm):
    llm.push(tool_calls([ToolCall("f", {"x": 1})]))
    r = ask(client(llm))
    msg = r.choices[0].message
    assert r.choices[0].finish_reason == "tool_calls" and msg.content is None
    assert msg.tool_calls[0].function.name == "f" and json.loads(msg.tool_calls[0].function.arguments) == {"x": 1}


@pytest.mark.parametrize("stream", [False, True])
def test_malformed_arguments_passed_verbatim(llm, stream):
    bad = '{"query": "unterminated, \'single\' quotes'
    llm.push(tool_calls([ToolCall("web_search", bad)], chunk_size=7))
    c = client(llm)
    if stream:
        got = "".join(
            tc.function.arguments or ""
            for ch in stream_all(c)
            if ch.choices
            for tc in ch.choices[0].delta.tool_calls or []
        )
    else:
        got = ask(c).choices[0].message.tool_calls[0].function.arguments
    assert got == bad


def test_wrong_key_raises_authentication_error(llm):
    llm.push(text("never sent"))
    with pytest.raises(openai.AuthenticationError) as exc:
        ask(OpenAI(base_url=llm.base_url, api_key="wrong-key", max_retries=2))
    assert exc.value.status_code == 401 and exc.value.code == "invalid_api_key"
    assert exc.value.body["type"] == "invalid_request_error" and "wrong-key" not in exc.value.message
    assert len(llm.requests) == 1 and llm.pending == 1  # recorded, not retried, script not consumed


def test_scripted_401_raises_authentication_error(llm):
    llm.push(error(401))
    with pytest.raises(openai.AuthenticationError):
        ask(client(llm), stream=True)


def test_500_then_text_with_one_retry(llm):
    llm.push(error(500), text("recovered"))
    r = ask(client(llm, max_retries=1))
    assert r.choices[0].message.content == "recovered"
    assert len(llm.requests) == 2


def test_rate_limit_error_body_and_retry_after(llm):
    llm.push(error(429, retry_after=0.1), text("ok"), error(429, "slow down", retry_after=7))
    assert ask(client(llm, max_retries=1)).choices[0].message.content == "ok"  # SDK honoured retry-after
    r = httpx.post(
        f"{llm.base_url}/chat/completions", json={"messages": MSG}, headers={"Authorization": f"Bearer {llm.api_key}"}
    )
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    assert r.json() == {
        "error": {"message": "slow down", "type": "requests", "param": None, "code": "rate_limit_exceeded"}
    }


@pytest.mark.parametrize(
    "status,exc",
    [
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
        (400, openai.BadRequestError),
        (404, openai.NotFoundError),
    ],
)
def test_error_statuses_map_to_sdk_exceptions(llm, status, exc):
    llm.push(error(status))
    with pytest.raises(exc) as info:
        ask(client(llm))
    assert info.value.status_code == status


def test_slow_reply_times_out_and_server_stops_promptly():
    llm = ScriptedLLM().start()
    try:
        llm.push(slow(text("too late"), 30))
        with pytest.raises(openai.APITimeoutError):  # the client gave up, long before the 30 s reply
            ask(client(llm, timeout=0.5))
        assert len(llm.requests) == 1
        # The handler notices the disconnect and gives up its wait (no open connection left),
        # long before its 30 s would have passed.
        deadline = time.monotonic() + 10
        while llm._conns and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not llm._conns
    finally:
        llm.stop()
        # Stopped: the serving thread has ended and the port takes no new connection.
        assert llm._thread is not None and not llm._thread.is_alive()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", llm.port), timeout=5).close()


def test_stop_interrupts_a_pending_slow_reply():
    llm = ScriptedLLM().start()
    llm.push(slow(text("never"), 30))
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            ask(client(llm, timeout=20))
        except BaseException as e:
            outcome.append(e)

    t = threading.Thread(target=call)
    t.start()
    llm.wait_for_requests(1, timeout=5)
    llm.stop()
    t.join(timeout=60)
    assert not t.is_alive()
    # Cut off by the stop: a connection error, not the client's own 20 s timeout giving up.
    assert isinstance(outcome[0], openai.APIConnectionError)
    assert not isinstance(outcome[0], openai.APITimeoutError)


def test_rules_beat_fifo_and_fifo_keeps_order(llm):
    llm.push(text("first"), text("second"), text("third"))
    llm.on(user_contains("WEATHER"), text("sunny"), times=2)
    llm.on(has_tool_result, text("tool seen"))
    c = client(llm)
    answers = [
        ask(c, q).choices[0].message.content
        for q in ["a", "what's the weather?", "b", "weather again", "weather thrice"]
    ]
    assert answers == ["first", "sunny", "second", "sunny", "third"]
    tool_msgs = [
        {"role": "user", "content": "x"},
        {
            "role": "assistant",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "result"},
    ]
    for _ in range(3):  # unlimited rule
        assert c.chat.completions.create(model="m", messages=tool_msgs).choices[0].message.content == "tool seen"
    assert [last["messages"][-1]["content"] for last in llm.requests[:5]] == [
        "a",
        "what's the weather?",
        "b",
        "weather again",
        "weather thrice",
    ]


def test_default_and_missing_reply(llm):
    c = client(llm, max_retries=2)
    with pytest.raises(openai.InternalServerError) as exc:
        ask(c, "what is 2+2")
    assert "no scripted reply for request: 'what is 2+2'" in exc.value.message
    assert len(llm.requests) == 1  # x-should-retry: false stops SDK retries
    llm.set_default(text("default"))
    assert ask(c).choices[0].message.content == "default"
    assert ask(c).choices[0].message.content == "default"


def test_matcher_exception_is_no_match(llm):
    llm.on(lambda body: body["nonexistent"], text("never"))
    llm.push(text("fifo"))
    assert ask(client(llm)).choices[0].message.content == "fifo"


def test_reset_and_wait_for_requests(llm):
    llm.push(text("a"))
    llm.on(lambda b: True, text("b"))
    llm.set_default(text("c"))
    ask(client(llm))
    llm.reset()
    assert llm.requests == [] and llm.pending == 0
    with pytest.raises(TimeoutError):
        llm.wait_for_requests(1, timeout=0.1)
    llm.push(text("x"))
    threading.Timer(0.1, lambda: ask(client(llm), "later")).start()
    got = llm.wait_for_requests(1, timeout=5)
    assert got[0]["messages"][0]["content"] == "later" and got[0]["model"] == "gpt-4o-mini"


def test_models_endpoint():
    with ScriptedLLM(models=["anker-small", "anker-large"]) as llm:
        assert [m.id for m in client(llm).models.list()] == ["anker-small", "anker-large"]
        with pytest.raises(openai.AuthenticationError):
            OpenAI(base_url=llm.base_url, api_key="nope", max_retries=0).models.list()


def test_delay_per_chunk_streams_incrementally():
    # The first chunk reaches the client while the others are still being held back: stopping
    # the server then leaves the client with just that chunk (a buffered reply would hold all three).
    llm = ScriptedLLM().start()
    llm.push(text("abcdef", chunk_size=2, delay_per_chunk=30))
    got = ""
    with pytest.raises(openai.APIConnectionError):
        for ch in ask(client(llm, timeout=60), stream=True):
            if ch.choices and ch.choices[0].delta.content:
                got += ch.choices[0].delta.content
                llm.stop()
    assert got == "ab"


def test_emissions_log_each_streamed_delta_with_its_request_before_the_client_reads_it(llm):
    llm.push(text("abcdef", chunk_size=2, delay_per_chunk=0.02), text("xyz", chunk_size=3))
    c = client(llm)
    received: list[tuple[float, str]] = []
    for ch in ask(c, "first", stream=True):
        if ch.choices and ch.choices[0].delta.content:
            received.append((time.time(), ch.choices[0].delta.content))
    stream_all(c, "second")

    log = llm.emissions
    assert [(e.request, e.text) for e in log] == [(0, "ab"), (0, "cd"), (0, "ef"), (1, "xyz")]
    assert [llm.requests[e.request]["messages"][-1]["content"] for e in log] == ["first"] * 3 + ["second"]
    # Sent before read, in order: the log is a clock the client's receipts can be set against.
    assert [e.at for e in log] == sorted(e.at for e in log)
    assert [piece for _, piece in received] == ["ab", "cd", "ef"]
    assert all(e.at <= at for e, (at, _) in zip(log[:3], received, strict=True))
    llm.reset()
    assert llm.emissions == []


def test_hang_then_drop_mid_stream(llm):
    llm.push(hang_then_drop("partial answer", hang=0.1))
    got = ""
    with pytest.raises(openai.APIConnectionError):  # openai 3.x wraps the mid-stream transport error
        for ch in ask(client(llm), stream=True):
            got += (ch.choices[0].delta.content or "") if ch.choices else ""
    assert got == "partial answer"


def test_hang_then_drop_non_stream(llm):
    llm.push(hang_then_drop())
    with pytest.raises(openai.APIConnectionError):
        ask(client(llm))


def test_reachable_from_another_process(llm):
    llm.push(text("from subprocess"))
    code = (
        "import sys; from openai import OpenAI; c = OpenAI(base_url=sys.argv[1], api_key='test-key');"
        "print(c.chat.completions.create(model='m', messages=[{'role':'user','content':'hi'}])"
        ".choices[0].message.content)"
    )
    argv = [sys.executable, "-c", code, llm.base_url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "from subprocess"


def test_async_client_streaming(llm):
    import asyncio

    llm.push(text(CONTENT, chunk_size=5))

    async def run() -> str:
        c = openai.AsyncOpenAI(base_url=llm.base_url, api_key=llm.api_key, max_retries=0)
        s = await c.chat.completions.create(
            model="m", messages=MSG, stream=True, stream_options={"include_usage": True}
        )
        out = "".join([ch.choices[0].delta.content or "" async for ch in s if ch.choices])
        await c.close()
        return out

    assert asyncio.run(run()) == CONTENT


def test_concurrent_clients_and_connection_reuse(llm):
    # Each reply is held 3 s: all eight requests reach the server before any client has its answer.
    llm.on(user_contains("ping"), slow(text("pong", chunk_size=1), 3), times=8)
    llm.on(user_contains("ping"), text("pong", chunk_size=1))
    c = client(llm)
    results: list[str] = []

    def worker(i: int) -> None:
        results.append(
            "".join(ch.choices[0].delta.content or "" for ch in ask(c, f"ping {i}", stream=True) if ch.choices)
        )

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    llm.wait_for_requests(8, timeout=60)
    assert results == []  # served in parallel: a serial server would have answered seven by now
    for t in threads:
        t.join(timeout=60)
    assert results == ["pong"] * 8
    assert sorted(r["messages"][0]["content"] for r in llm.requests) == [f"ping {i}" for i in range(8)]
    assert ask(c, "ping again").choices[0].message.content == "pong"  # pooled connections still usable


def test_stop_during_slow_stream_is_prompt():
    llm = ScriptedLLM().start()
    llm.push(text("x" * 100, chunk_size=1, delay_per_chunk=1.0))
    s = ask(client(llm, timeout=30), stream=True)
    next(iter(s))
    llm.stop()
    # The stop cut the stream: the client gets an error, not the remaining 99 s of chunks.
    assert llm._thread is not None and not llm._thread.is_alive()
    with pytest.raises(openai.APIConnectionError) as info:
        list(s)
    assert not isinstance(info.value, openai.APITimeoutError)
