"""Token relay: the latency Anker adds to each streamed token of a lite chat answer, model → user
over SSE, next to the same scripted model read directly with the openai SDK in the same run.

The scripted model server (tests/support/llm_server.py: the OpenAI streaming protocol over real
HTTP) answers each message with TOKENS tokens, TOKEN_SECONDS apart, and logs when each token
left it. A token's added latency = when the reader saw it − when the model server emitted it.
The paths, on private servers (daphne, a Celery worker on the `turns` queue, Redis, the event
store), 1 stream and then STREAMS concurrent streams, ROUNDS times each:

- direct (the baseline): the openai SDK reading the model server itself;
- Anker: `POST /api/v1/sessions/{id}/chat` (lite), read as SSE: worker → model → coalescing
  (`agents/streaming.py`) → event log + Redis → daphne → the reader;
- Anker with STREAM_FLUSH_MS=20 (a worker of its own; `--also-flush-ms`): frames at most every
  20 ms, the setting for a per-token latency under ~15 ms (up to 50 frames/s a stream);
- Anker with STREAM_FLUSH_MS=0 (another worker): every token its own frame, so what is left is
  the relay alone (at 50 frames/s a stream instead of ~20).

Coalescing holds a token until its frame is sent (the first at once, then at most every
STREAM_FLUSH_MS): with tokens 20 ms apart and frames 50 ms apart a token waits 10–40 ms by
design. That part is printed on its own, computed from the model's emission times with the
coalescing rule (the wait an infinitely fast relay would still add).

Every answer must arrive whole: the streamed text and the final `message` equal the scripted
answer, each character once; otherwise the run exits non-zero.

    .venv/bin/python bench/token_relay.py [--rounds 2] [--streams 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stack import BenchStack, cpu_seconds, machine_busy_seconds, percentile, run_bench

TOKENS = 150
TOKEN_SECONDS = 0.020
TOKEN_WIDTH = 8  # characters a token: "<tag><nnn> " with a 4-character tag


@dataclass
class Stream:
    """One answer: what the reader saw, and when."""

    tag: str
    sent_at: float = 0.0  # the reader's request went out
    seen: list[tuple[float, str]] = field(default_factory=list)  # (time.time(), text) per delta received
    published: list[tuple[float, str]] = field(default_factory=list)  # the same, as Redis carried it (Anker)
    final: str | None = None  # the final message's content (Anker), or the whole text (direct)
    error: str = ""


def answer_for(tag: str) -> str:
    return "".join(f"{tag}{i:03d} " for i in range(TOKENS))


class Relay:
    """Drives streams over one path and turns the model's emission log into added latencies."""

    def __init__(self, llm: Any, host: str, token: str) -> None:
        self.llm, self.host, self.token = llm, host, token
        self.count = 0

    def script(self, n: int) -> list[Stream]:
        from tests.support.llm_server import text, user_contains

        streams = []
        for _ in range(n):
            self.count += 1
            tag = f"q{self.count:03d}"
            reply = text(answer_for(tag), chunk_size=TOKEN_WIDTH, delay_per_chunk=TOKEN_SECONDS)
            self.llm.on(user_contains(f"relay {tag}"), reply, times=1)
            streams.append(Stream(tag))
        return streams

    async def direct(self, stream: Stream, client: Any) -> None:
        stream.sent_at = time.time()
        chunks = await client.chat.completions.create(
            model="scripted-model", messages=[{"role": "user", "content": f"relay {stream.tag}"}], stream=True
        )
        async for chunk in chunks:
            if chunk.choices and chunk.choices[0].delta.content:
                stream.seen.append((time.time(), chunk.choices[0].delta.content))
        stream.final = "".join(piece for _, piece in stream.seen)

    async def anker(self, stream: Stream, client: Any, session_id: str) -> None:
        url = f"http://{self.host}/api/v1/sessions/{session_id}/chat"
        stream.sent_at = time.time()
        async with client.stream("POST", url, json={"message": f"relay {stream.tag}"}) as response:
            if response.status_code != 200:
                stream.error = f"HTTP {response.status_code}: {(await response.aread())[:200]!r}"
                return
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    if event == "message_delta":
                        stream.seen.append((time.time(), data["delta"]))
                    elif event == "message" and data.get("role") == "assistant":
                        stream.final = data["content"]
                    elif event == "error":
                        stream.error = data.get("error", "error")

    def run(self, path: str, n: int) -> list[Stream]:
        from sessions.services import session_create

        streams = self.script(n)
        user_id = bench_user().pk
        sessions = [session_create(owner_id=user_id, mode="lite").id for _ in streams] if path == "anker" else []

        async def go() -> None:
            import httpx
            from openai import AsyncOpenAI

            if path == "direct":  # one SDK client for the run's streams
                async with AsyncOpenAI(base_url=self.llm.base_url, api_key=self.llm.api_key, max_retries=0) as sdk:
                    await asyncio.gather(*(self.direct(s, sdk) for s in streams))
                return
            # A tap on the sessions' Redis channels: when each frame left the worker (~0.2 ms after).
            from django.conf import settings
            from redis import asyncio as aioredis

            from sessions.live import session_channel

            by_channel = {session_channel(i): s for s, i in zip(streams, sessions, strict=True)}
            redis = aioredis.Redis.from_url(settings.REDIS_URL)
            tap = redis.pubsub()
            await tap.subscribe(*by_channel)

            async def listen() -> None:
                async for message in tap.listen():
                    if message["type"] == "message":
                        event = json.loads(message["data"])
                        if event["type"] == "message_delta":
                            by_channel[message["channel"].decode()].published.append((time.time(), event["delta"]))

            listening = asyncio.create_task(listen())
            headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
            try:
                async with httpx.AsyncClient(
                    headers=headers, timeout=120, limits=httpx.Limits(max_connections=64)
                ) as c:
                    await asyncio.gather(*(self.anker(s, c, i) for s, i in zip(streams, sessions, strict=True)))
            finally:
                listening.cancel()
                await tap.aclose()
                await redis.aclose()

        asyncio.run(go())
        return streams

    def emitted(self) -> dict[str, list[float]]:
        """Per tag, when each of its tokens left the model server."""
        requests = self.llm.requests
        out: dict[str, list[float]] = {}
        for emission in self.llm.emissions:
            message = requests[emission.request]["messages"][-1]["content"]
            out.setdefault(message.removeprefix("relay "), []).append(emission.at)
        return out


@dataclass
class Result:
    added: list[float] = field(default_factory=list)  # ms per token
    coalescing: list[float] = field(default_factory=list)  # ms per token, by the rule alone
    to_redis: list[float] = field(default_factory=list)  # ms per token: emitted → on Redis (Anker)
    from_redis: list[float] = field(default_factory=list)  # ms per token: on Redis → seen (Anker)
    first: list[float] = field(default_factory=list)  # ms from the request to the first token seen
    broken: list[str] = field(default_factory=list)

    def add(self, other: Result) -> None:
        for name in ("added", "coalescing", "to_redis", "from_redis", "first", "broken"):
            getattr(self, name).extend(getattr(other, name))


def coalescing_waits(emitted: list[float], flush_ms: float, flush_chars: int) -> list[float]:
    """What `agents/streaming.TokenStream` makes each token wait, given when the tokens arrive:
    the first at once, then a frame when STREAM_FLUSH_MS passed since the last (a timer sends it
    if no token comes) or STREAM_FLUSH_CHARS are buffered; the rest at the stream's end."""
    flush_s = flush_ms / 1000
    waits: list[float] = []
    buffered: list[float] = []
    last_flush = timer = None

    def flush(at: float) -> None:
        nonlocal last_flush, timer
        waits.extend(at - t for t in buffered)
        buffered.clear()
        last_flush, timer = at, None

    for t in emitted:
        if timer is not None and timer <= t:
            flush(timer)
        buffered.append(t)
        if last_flush is None or len(buffered) * TOKEN_WIDTH >= flush_chars or t - last_flush >= flush_s:
            flush(t)
        elif timer is None:
            timer = last_flush + flush_s
    if buffered:  # `close()` at the end of the model's stream, before a pending timer
        flush(emitted[-1])
    return [w * 1000 for w in waits]


def char_times(frames: list[tuple[float, str]]) -> list[float]:
    """When each character arrived, from (time, text) frames."""
    out: list[float] = []
    for at, piece in frames:
        out += [at] * len(piece)
    return out


def evaluate(streams: list[Stream], emitted: dict[str, list[float]], flush_ms: float, flush_chars: int) -> Result:
    result = Result()
    for stream in streams:
        expected = answer_for(stream.tag)
        streamed = "".join(piece for _, piece in stream.seen)
        times = emitted.get(stream.tag, [])
        if stream.error or streamed != expected or stream.final != expected or len(times) != TOKENS:
            result.broken.append(
                f"{stream.tag}: {stream.error or 'text differs'}"
                f" (streamed {len(streamed)} of {len(expected)} characters, {len(times)} tokens emitted)"
            )
            continue
        seen_at = char_times(stream.seen)
        published_at = char_times(stream.published) if "".join(p for _, p in stream.published) == expected else []
        for k, emitted_at in enumerate(times):
            last = (k + 1) * TOKEN_WIDTH - 1  # a token's characters travel in one frame
            result.added.append((seen_at[last] - emitted_at) * 1000)
            if published_at:
                result.to_redis.append((published_at[last] - emitted_at) * 1000)
                result.from_redis.append((seen_at[last] - published_at[last]) * 1000)
        result.coalescing += coalescing_waits(times, flush_ms, flush_chars)
        result.first.append((stream.seen[0][0] - stream.sent_at) * 1000)
    return result


def busy(pid: int) -> float:
    """CPU seconds of a process so far; pid 0: of the whole machine (shared with other work)."""
    return cpu_seconds(pid) if pid else machine_busy_seconds()


def bench_user() -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="bench")


def line(label: str, result: Result, baseline: Result | None = None) -> str:
    p50, p99 = percentile(result.added, 50), percentile(result.added, 99)
    text = f"    {label:<34} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms   first token {percentile(result.first, 50):6.0f} ms"
    if baseline is not None:
        b50, b99 = percentile(baseline.added, 50), percentile(baseline.added, 99)
        text += f"   = baseline + {p50 - b50:.1f} / {p99 - b99:.1f} ms ({p50 / b50:.0f}x / {p99 / b99:.1f}x)"
    return text


def body(stack: BenchStack, llm: Any, args: argparse.Namespace) -> bool:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from rest_framework_simplejwt.tokens import RefreshToken

    host = stack.start_web()
    user = get_user_model().objects.create_user("bench", password="bench-pass-123")
    relay = Relay(llm, host, str(RefreshToken.for_user(user).access_token))
    flush_chars = settings.STREAM_FLUSH_CHARS
    load = os.getloadavg()
    print(
        f"Token relay, model → user: {TOKENS} tokens {TOKEN_SECONDS * 1000:.0f} ms apart per answer,"
        f" lite chat over SSE, {args.rounds} rounds; load average {load[0]:.1f} {load[1]:.1f} at the start"
    )
    print("  added latency per token = reader saw it − model server emitted it (first token: request → first seen)")
    ok = True
    flush_settings = [(float(settings.STREAM_FLUSH_MS), "Anker (STREAM_FLUSH_MS={:g})")]
    for also in filter(None, args.also_flush_ms.split(",")):
        flush_settings.append((float(also), "Anker (STREAM_FLUSH_MS={:g})"))
    if not args.no_off:
        flush_settings.append((0.0, "Anker, coalescing off (={:g})"))
    for flush_ms, label in flush_settings:
        worker = stack.start_worker(
            f"bench-relay-{flush_ms:g}", "turns,default", 16, env={"STREAM_FLUSH_MS": str(flush_ms)}
        )
        relay.run("anker", args.streams)  # warm-up: imports, the worker threads' connections
        relay.run("direct", args.streams)
        watched = {"worker": worker.pid, "daphne": stack.pids["web"], "event store": stack.pids["mongo"], "machine": 0}
        for n in (1, args.streams):
            results = {"direct": Result(), "anker": Result()}
            cpu = dict.fromkeys(watched, 0.0)
            wall = 0.0
            for _round in range(args.rounds):
                for path in ("direct", "anker"):  # alternated, so a change in load falls on both
                    before = {name: busy(pid) for name, pid in watched.items()}
                    started = time.perf_counter()
                    streams = relay.run(path, n)
                    if path == "anker":
                        wall += time.perf_counter() - started
                        for name, pid in watched.items():
                            cpu[name] += busy(pid) - before[name]
                    results[path].add(evaluate(streams, relay.emitted(), flush_ms, flush_chars))
            direct, anker = results["direct"], results["anker"]
            print(f"  {n} stream{'s' if n > 1 else ''} at once ({len(anker.added)} tokens):")
            print(line("baseline, openai SDK ↔ model", direct))
            print(line(label.format(flush_ms), anker, direct))
            print(
                f"    {'  model → worker → on Redis':<34} p50 {percentile(anker.to_redis, 50):7.1f} ms"
                f"  p99 {percentile(anker.to_redis, 99):7.1f} ms   (a tap on the sessions' channels)"
            )
            if flush_ms:
                print(
                    f"    {'    of it coalescing, by its rule':<34} p50 {percentile(anker.coalescing, 50):7.1f} ms"
                    f"  p99 {percentile(anker.coalescing, 99):7.1f} ms   (an instant relay would add this)"
                )
            print(
                f"    {'  Redis → daphne → SSE reader':<34} p50 {percentile(anker.from_redis, 50):7.1f} ms"
                f"  p99 {percentile(anker.from_redis, 99):7.1f} ms"
            )
            print(
                f"    {'CPU while Anker streamed (cores)':<34} "
                + ", ".join(f"{name} {seconds / wall:.2f}" for name, seconds in cpu.items())
            )
            for problem in direct.broken + anker.broken:
                print(f"    FAIL {problem}")
            ok = ok and not direct.broken and not anker.broken
        stack.stop(worker)
    load = os.getloadavg()
    print(f"  target: p50 <= 15 ms, p99 <= 50 ms with 8 streams; load average {load[0]:.1f} {load[1]:.1f} at the end")
    if not ok:
        print("FAIL: characters were lost or repeated (or a stream failed)")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="times each configuration runs")
    parser.add_argument("--streams", type=int, default=8, help="concurrent streams of the second configuration")
    parser.add_argument("--no-off", action="store_true", help="skip the run with coalescing off")
    parser.add_argument(
        "--also-flush-ms",
        default="20",
        help="comma-separated STREAM_FLUSH_MS values run after the default (each by a worker of its own); '' for none",
    )
    args = parser.parse_args()
    from tests.support.llm_server import ScriptedLLM, text

    llm = ScriptedLLM().start()
    llm.set_default(text("unscripted"))
    env = {
        "LLM_PROVIDER": "compatible",
        "API_BASE": llm.base_url,
        "API_KEY": llm.api_key,
        "MODEL_NAME": "scripted-model",
    }
    try:
        return run_bench(lambda stack: body(stack, llm, args), env=env)
    finally:
        llm.stop()


if __name__ == "__main__":
    sys.exit(main())
