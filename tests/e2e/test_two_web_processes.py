"""Two web processes behind one Redis serve one set of sessions: a worker publishes, readers
connected to either process receive every event exactly once, in order (docs/scaling.md)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from sessions import eventlog
from tests.bootstrap import ROOT, free_port
from tests.e2e.conftest import BIN, Stack, _wait_http, stop
from tests.e2e.sse import read_events
from tests.e2e.test_chat_stack import api, login, new_session
from tests.support.llm_server import ScriptedLLM, text

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def second_web(stack: Stack, stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Another daphne on the same database, Redis and event log as the stack's."""
    log = tmp_path_factory.mktemp("web2") / "web.log"
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "anker_project.asgi:application"],
        cwd=ROOT,
        env=stack_env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/v1/auth/me", proc, log)
        yield f"127.0.0.1:{port}"
    finally:
        stop(proc)


def follow(url: str, out: list[dict[str, Any]], connected: threading.Event) -> None:
    """A WebSocket reader: every frame until the (only) turn's `done`."""
    with connect(url, open_timeout=10) as ws:
        connected.set()
        while True:
            frame = json.loads(ws.recv(timeout=60))
            out.append(frame["data"])
            if frame["event"] == "done":
                return


def test_readers_on_two_web_processes_get_every_event_of_a_worker_exactly_once(
    stack: Stack, second_web: str, llm: ScriptedLLM
) -> None:
    answer = "".join(f"word{i} " for i in range(150))
    llm.push(text(answer, chunk_size=3, delay_per_chunk=0.003))
    token = login(stack, "two-webs")
    session_id = new_session(api(stack, token))
    first_host = stack.ws_url.removeprefix("ws://")
    readers: list[tuple[list[dict[str, Any]], threading.Thread]] = []
    for host in (first_host, second_web, first_host, second_web):
        out: list[dict[str, Any]] = []
        connected = threading.Event()
        url = f"ws://{host}/api/v1/ws/sessions/{session_id}?after=0&token={token}"
        thread = threading.Thread(target=follow, args=(url, out, connected), daemon=True)
        thread.start()
        assert connected.wait(20)
        readers.append((out, thread))

    # The SSE reader is the chat request itself, served by the second process.
    with httpx.Client(base_url=f"http://{second_web}", headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
        body = {"message": "Count", "timestamp": int(time.time())}
        with c.stream("POST", f"/api/v1/sessions/{session_id}/chat", json=body) as response:
            assert response.status_code == 200
            frames = read_events(response)
    for _out, thread in readers:
        thread.join(60)

    log = eventlog.events_after(session_id, 0)
    assert log[-1]["type"] == "done"
    assert "".join(e["delta"] for e in log if e["type"] == "message_delta") == answer
    assert [f.data for f in frames] == log[1:]  # everything after the user's message
    for out, thread in readers:
        assert not thread.is_alive()
        assert out == log
