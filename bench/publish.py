"""Publish cost: one event stored in the log and sent live, next to its two parts measured raw.

Prints, from one run on private servers: a raw Redis PUBLISH, a raw Mongo insert (the same
document shape), and `event_publish` of a streamed-token event (store + send), each as
p50/p99 ms over sequential calls; then the throughput of 8 threads publishing to 8 sessions
and of 4 threads publishing to one session. A subscriber counts what was sent: a missing
or duplicated event makes the run exit non-zero.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stack import BenchStack, percentile, run_bench

COUNT = 2000


def timed(fn: object, count: int) -> list[float]:
    assert callable(fn)
    out: list[float] = []
    for i in range(count):
        started = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - started) * 1000)
    return out


def body(stack: BenchStack) -> bool:
    from django.contrib.auth import get_user_model

    from anker_project.mongo import get_db
    from anker_project.redis_client import get_redis
    from sessions import eventlog
    from sessions.events import MessageDeltaEvent
    from sessions.live import session_channel
    from sessions.publisher import event_publish
    from sessions.services import session_create

    user = get_user_model().objects.create_user("bench", password="bench-pass-123")
    sessions = [session_create(owner_id=user.pk, mode="lite").id for _ in range(9)]
    redis = get_redis()
    events = get_db().events

    received: dict[str, list[int]] = {s: [] for s in sessions}
    pubsub = redis.pubsub()
    pubsub.subscribe(*(session_channel(s) for s in sessions))
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            message = pubsub.get_message(timeout=0.2)
            if message and message["type"] == "message":
                channel = message["channel"].decode()
                received[channel.rsplit(".", 1)[1]].append(json.loads(message["data"])["seq"])

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    payload = json.dumps(MessageDeltaEvent(delta="x" * 40).model_dump(mode="json"))

    raw_publish = timed(lambda i: redis.publish("bench-raw", payload), COUNT)
    raw_insert = timed(
        lambda i: events.insert_one({**MessageDeltaEvent(delta="x" * 40).model_dump(), "session_id": "raw", "seq": i}),
        COUNT,
    )
    one = sessions[0]
    published = timed(lambda i: event_publish(one, MessageDeltaEvent(delta="x" * 40)), COUNT)

    def burst(session_id: str, count: int) -> None:
        for _ in range(count):
            event_publish(session_id, MessageDeltaEvent(delta="y" * 40))

    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(burst, sessions[1:], [COUNT // 8] * 8))
    spread_rate = COUNT / (time.perf_counter() - started)
    shared = sessions[1]
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(burst, [shared] * 4, [COUNT // 8] * 4))
    shared_rate = (COUNT // 2) / (time.perf_counter() - started)

    time.sleep(1.0)
    stop.set()
    listener.join()
    problems = []
    for session_id in sessions:
        stored = [e["seq"] for e in eventlog.events_after(session_id, 0, limit=100_000)]
        if stored != list(range(1, len(stored) + 1)):
            problems.append(f"{session_id}: the log is not gapless")
        if sorted(received[session_id]) != stored:
            problems.append(f"{session_id}: sent {len(received[session_id])} of {len(stored)} stored (or twice)")

    p50, p99 = percentile(published, 50), percentile(published, 99)
    raw_p50, ins_p50 = percentile(raw_publish, 50), percentile(raw_insert, 50)
    print("Publish cost (one streamed-token event, stored and sent), sequential, ms")
    print(f"  raw Redis PUBLISH     p50 {raw_p50:.3f}  p99 {percentile(raw_publish, 99):.3f}")
    print(f"  raw Mongo insert_one  p50 {ins_p50:.3f}  p99 {percentile(raw_insert, 99):.3f}")
    print(
        f"  event_publish         p50 {p50:.3f}  p99 {p99:.3f}"
        f"   = {p50 / (raw_p50 + ins_p50):.2f}x (PUBLISH + insert), {p50 / ins_p50:.2f}x insert"
    )
    print(f"  target p50 <= 0.5 ms: {'met' if p50 <= 0.5 else 'NOT met'}")
    print(
        f"Throughput: 8 threads x 8 sessions {spread_rate:.0f} events/s;"
        f" 4 threads x 1 session {shared_rate:.0f} events/s"
    )
    for problem in problems:
        print("  FAIL", problem)
    return not problems


if __name__ == "__main__":
    sys.exit(run_bench(body))
