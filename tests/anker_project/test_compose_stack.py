"""The production compose stack, brought up for real: `docker-compose up --build -d` with
docker-compose.ci.yml on top (it swaps only the images no registry can give us here), against
the Docker engine at DOCKER_HOST, then driven through its published ports as a person and
another system would. Workers start sandboxes through the engine socket; the LLM is the
scripted server, bound on the default bridge's gateway so the containers reach it.

1. the stack: login, a lite chat over SSE, an agent turn in a Docker sandbox with the shell
   and file views and a VNC handshake through the web service, a job with a signed webhook,
   /api/docs, the admin login, Flower behind its credentials;
2. two workers (`--scale worker=2`, each its own network host reaching Redis, PostgreSQL and
   Mongo over the compose network): 20 agent turns over both, one worker `docker kill`ed while
   a shell call of one of its turns is in flight; every turn completes (resumed by the other
   worker through the beat watchdog), no event lost or doubled, no sandbox leaked, and a sandbox
   the killed worker started is served by the web service; then a worker stopped by `docker
   stop` (SIGTERM, a deploy) mid-turn hands its turns over with nothing shown to the user;
3. `down -v` leaves no container with the sandbox label, no container and no volume.

Timings are printed (`-s`), not asserted.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets.sync.client

from tests.bootstrap import ROOT, free_port
from tests.e2e.sse import read_events
from tests.support.ci import in_ci
from tests.support.llm_server import ScriptedLLM, ToolCall, slow, text, tool_calls

# The first test's time includes bringing the stack up (a build on a cold cache installs everything).
pytestmark = [pytest.mark.docker, pytest.mark.timeout(2400)]

BASE_IMAGE = "anker-base:bookworm"
PASSWORD = "compose stack password"
UP_TIMEOUT_SECONDS = 1500  # a first build on a cold cache installs every package
WORKER_CONCURRENCY = 5  # per worker: 20 turns need both workers, in waves a 2-core machine can start
SHELL_SECONDS = 4  # each turn's shell call runs this long (under shell_exec's 5 s): the kill lands in it


def _need(condition: bool, reason: str) -> None:
    if not condition:
        if in_ci():
            pytest.fail(f"{reason} (required in CI)")
        pytest.skip(reason)


def docker(*args: str, timeout: float = 120, check: bool = True) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {result.stderr[-3000:]}")
    return result.stdout


def docker_logs(container: str) -> str:
    """A container's output: stdout and stderr (Celery logs to stderr)."""
    result = subprocess.run(["docker", "logs", container], capture_output=True, text=True, timeout=60)
    return result.stdout + result.stderr


def bridge_gateway() -> str:
    """The host's address on Docker's default bridge: containers of any network reach it."""
    config = json.loads(docker("network", "inspect", "bridge"))[0]["IPAM"]["Config"][0]
    # The engine leaves Gateway out when it is the default: the subnet's first address.
    return str(config.get("Gateway") or ipaddress.ip_network(config["Subnet"])[1])


class WebhookReceiver:
    """The other system's endpoint: records every POST (headers and raw body), answers 204."""

    def __init__(self, host: str) -> None:
        received = self.received = []  # type: list[tuple[dict[str, str], bytes]]

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}/anker-hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Stack:
    project: str
    compose: list[str]
    env: dict[str, str]
    base_url: str
    flower_url: str
    prefix: str
    llm: ScriptedLLM
    hooks: WebhookReceiver
    timings: dict[str, float] = field(default_factory=dict)
    token: str = ""

    def run(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self.compose, *args], env=self.env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
        )
        if check and result.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)}:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
        return result

    def containers(self, service: str) -> list[str]:
        return self.run("ps", "-q", service).stdout.split()

    def manage(self, *args: str) -> str:
        return self.run("exec", "-T", "web", "python", "manage.py", *args).stdout

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60)

    def sandboxes(self) -> list[dict[str, str]]:
        """Every container this stack's workers started (by their name prefix)."""
        ids = docker("ps", "-aq", "--filter", f"label=anker.prefix={self.prefix}").split()
        if not ids:
            return []
        # One may be removed between the two calls: `inspect` still prints the others.
        found = docker("inspect", *ids, check=False).strip()
        return [
            {"id": c["Id"][:12], "state": c["State"]["Status"], **c["Config"]["Labels"]}
            for c in json.loads(found or "[]")
            if "anker.sandbox" in c["Config"]["Labels"]  # not the short-lived `-seal` helpers
        ]


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


def unhealthy(stack: Stack) -> list[str]:
    """Services not yet healthy (those with a health check) or running; `migrate` must exit 0."""
    ids = docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={stack.project}").split()
    waiting = []
    for state in json.loads(docker("inspect", *ids)) if ids else []:
        labels = state["Config"]["Labels"]
        if labels.get("com.docker.compose.oneoff") == "True":
            continue  # sandboxes and `exec`/`run` containers
        service, status = labels["com.docker.compose.service"], state["State"]
        if service in ("migrate", "sandbox-image"):
            if status["Status"] != "exited":
                waiting.append(f"{service}: {status['Status']}")
            elif status["ExitCode"] != 0:
                raise AssertionError(f"{service} exited {status['ExitCode']}: {docker_logs(state['Id'])[-3000:]}")
        elif "Health" in status and status["Health"]["Status"] != "healthy":
            waiting.append(f"{service}: {status['Health']['Status']} {status['Health']['Log'][-1:]}")
        elif status["Status"] != "running":
            waiting.append(f"{service}: {status['Status']}")
    return waiting if ids else ["no container"]


def wait_healthy(stack: Stack, timeout: float) -> None:
    last: list[str] = []

    def check() -> bool:
        last[:] = unhealthy(stack)
        return not last

    try:
        wait_for(check, timeout, "every health check")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {last}") from None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    _need(bool(shutil.which("docker-compose")), "docker-compose is not installed")
    _need(subprocess.run(["docker", "info"], capture_output=True).returncode == 0, "no Docker engine answers")
    _need(
        subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True).returncode == 0,
        f"{BASE_IMAGE} is missing: run sandbox-image/build.sh",
    )
    _need((ROOT / "frontend" / "dist" / "index.html").exists(), "the web app is not built: run make frontend")
    # Builds that reach PyPI trust the host's CA bundle (a TLS-intercepting proxy), as build.sh does.
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    for target in (
        ROOT / "docker" / "certs" / "host-ca-bundle.crt",
        ROOT / "sandbox-image" / "certs" / "host-ca-bundle.crt",
    ):
        if bundle.exists() and (not target.exists() or target.read_bytes() != bundle.read_bytes()):
            shutil.copyfile(bundle, target)

    tmp = tmp_path_factory.mktemp("compose")
    gateway = bridge_gateway()
    llm = ScriptedLLM(host=gateway).start()
    hooks = WebhookReceiver(gateway)
    tag = secrets.token_hex(3)
    # The caller's SANDBOX_NAME_PREFIX (one per developer on a shared engine) names the stack too.
    base = os.environ.get("SANDBOX_NAME_PREFIX") or "anker"
    project, prefix = f"{base.replace('-', '')}ci{tag}", f"{base}-ci-{tag}"
    web_port, flower_port = free_port(), free_port()
    secrets_env = {
        "POSTGRES_PASSWORD": secrets.token_hex(12),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
        "FLOWER_USER": "ops",
        "FLOWER_PASSWORD": secrets.token_hex(12),
    }
    # What an operator writes into .env: the model, the hosts, the sandboxes' names and size, and
    # recovery times shorter than the defaults (30 s locks, 60 s stale) but with room for a loaded
    # machine: a live turn renews its 20 s lock every 2 s.
    (tmp / ".env").write_text(
        "\n".join(
            [
                "LLM_PROVIDER=compatible",
                f"API_BASE=http://{gateway}:{llm.port}/v1",
                f"API_KEY={llm.api_key}",
                "MODEL_NAME=scripted-model",
                "SEARCH_PROVIDER=",
                "DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost",
                f"SANDBOX_NAME_PREFIX={prefix}",
                "SANDBOX_POOL_SIZE=0",
                "SANDBOX_MEMORY_LIMIT=512m",
                "SANDBOX_CPUS=1",
                # The test's webhook receiver is on a private address.
                "WEBHOOK_ALLOW_PRIVATE_TARGETS=true",
                "LOG_LEVEL=INFO",
                "TURN_HEARTBEAT_SECONDS=2",
                "TURN_LOCK_SECONDS=20",
                "TURN_STALE_SECONDS=20",
                "TURN_WATCHDOG_SECONDS=5",
                "TURN_MAX_RESUMES=3",
                "TURN_REQUEUE_SECONDS=60",
                # Sandboxes stay up between the turns and the checks that read them (no hibernation).
                "SANDBOX_IDLE_STOP_MINUTES=0",
                "",
            ]
        )
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "ANKER_", "SANDBOX_"))},
        **secrets_env,
        "ANKER_ENV_FILE": str(tmp / ".env"),
        "ANKER_IMAGE": "anker-backend:ci",
        "ANKER_BASE_IMAGE": BASE_IMAGE,
        "SANDBOX_IMAGE": f"anker-sandbox:ci-{tag}",
        "WEB_PORT": str(web_port),
        "FLOWER_PORT": str(flower_port),
        "WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        "SANDBOX_NETWORK": f"{prefix}-sandboxes",
        "DOCKER_SOCKET": (os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock").removeprefix("unix://"),
    }
    env["DOCKER_GID"] = str(os.stat(env["DOCKER_SOCKET"]).st_gid)
    compose = [
        "docker-compose",
        "-p",
        project,
        "--project-directory",
        str(ROOT),
        "-f",
        str(ROOT / "docker-compose.yml"),
        "-f",
        str(ROOT / "docker-compose.ci.yml"),
    ]
    stack = Stack(
        project, compose, env, f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{flower_port}", prefix, llm, hooks
    )
    try:
        started = time.monotonic()
        stack.run("build", timeout=UP_TIMEOUT_SECONDS)
        stack.timings["build"] = time.monotonic() - started
        started = time.monotonic()
        stack.run("up", "--build", "-d", timeout=UP_TIMEOUT_SECONDS)
        wait_healthy(stack, 300)
        stack.timings["stack up (after build)"] = time.monotonic() - started
        yield stack
    finally:
        if os.environ.get("ANKER_KEEP_STACK_LOGS"):
            Path(os.environ["ANKER_KEEP_STACK_LOGS"]).write_text(stack.run("logs", "--no-color", check=False).stdout)
        stack.run("down", "-v", "--timeout", "20", check=False)
        docker("image", "rm", env["SANDBOX_IMAGE"], check=False)
        llm.stop()
        hooks.stop()
        print("\ncompose stack timings (s):", {k: round(v, 1) for k, v in stack.timings.items()})


def log_in(stack: Stack) -> None:
    if stack.token:
        return
    stack.run(
        "exec", "-T", "-e", f"DJANGO_SUPERUSER_PASSWORD={PASSWORD}", "web",
        "python", "manage.py", "createsuperuser", "--noinput", "--username", "ops", "--email", "ops@example.test",
    )  # fmt: skip
    response = httpx.post(f"{stack.base_url}/api/v1/auth/login", json={"username": "ops", "password": PASSWORD})
    assert response.status_code == 200, response.text
    stack.token = response.json()["data"]["access_token"]


def chat(client: httpx.Client, session_id: str, message: str) -> list[Any]:
    body = {"message": message, "timestamp": int(time.time())}
    with client.stream("POST", f"/api/v1/sessions/{session_id}/chat", json=body, timeout=180) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return read_events(response)


def new_session(client: httpx.Client, mode: str) -> str:
    response = client.put("/api/v1/sessions", json={"mode": mode})
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["session_id"])


def vnc_handshake(stack: Stack, client: httpx.Client, session_id: str) -> bytes:
    ticket = client.post(f"/api/v1/sessions/{session_id}/vnc/ticket", json={"view_only": True})
    assert ticket.status_code == 200, ticket.text
    url = f"ws://127.0.0.1:{stack.base_url.rsplit(':', 1)[1]}/api/v1/sessions/{session_id}/vnc"
    with websockets.sync.client.connect(
        f"{url}?ticket={ticket.json()['data']['ticket']}",
        subprotocols=[websockets.Subprotocol("binary")],
        additional_headers={"Authorization": f"Bearer {stack.token}"},
        open_timeout=30,
    ) as ws:
        return bytes(ws.recv(timeout=90))  # type: ignore[arg-type]  # a desktop started on demand


def step_plan(title: str, goal: str) -> Any:
    return tool_calls(
        [
            ToolCall(
                "create_plan",
                {
                    "message": "On it.",
                    "title": title,
                    "goal": goal,
                    "language": "en",
                    "steps": [{"description": "Write the file"}],
                },
                id=None,
            )
        ]
    )


def call(name: str, args: dict[str, Any], call_id: str) -> Any:
    return tool_calls([ToolCall(name, args, id=call_id)])


def test_the_stack_serves_a_person_and_another_system_through_its_published_ports(stack: Stack) -> None:
    llm = stack.llm
    log_in(stack)
    client = stack.api()

    # A lite chat, streamed over SSE.
    llm.push(text("Hello from the compose stack.", chunk_size=6))
    lite = new_session(client, "lite")
    started = time.monotonic()
    frames = chat(client, lite, "Say hello")
    stack.timings["first answer (lite, SSE)"] = time.monotonic() - started
    kinds = [f.event for f in frames]
    assert kinds[-1] == "done"
    answer = [f.data for f in frames if f.event == "message" and f.data["role"] == "assistant"]
    assert [a["content"] for a in answer] == ["Hello from the compose stack."]
    assert "message_delta" in kinds

    # An agent turn in a Docker sandbox that the worker container starts through the engine socket.
    home = "/home/ubuntu"
    llm.push(
        step_plan("Compose check", "write a file"),
        call("shell_exec", {"id": "main", "exec_dir": home, "command": "echo compose-ok > note.txt; hostname"}, "c1"),
        call("complete_step", {"success": True, "result": "written"}, "c2"),
        call("deliver_result", {"message": "Wrote note.txt."}, "c3"),
    )
    agent = new_session(client, "agent")
    started = time.monotonic()
    frames = chat(client, agent, "Write compose-ok into note.txt")
    stack.timings["agent turn (cold Docker sandbox)"] = time.monotonic() - started
    assert [f.event for f in frames][-1] == "done", [f.data for f in frames if f.event == "error"]
    assert [f.data["content"] for f in frames if f.event == "message" and f.data["role"] == "assistant"][-1] == (
        "Wrote note.txt."
    )
    [sandbox] = stack.sandboxes()
    worker_hosts = {c[:12] for c in stack.containers("worker")}
    assert sandbox["anker.created-by"] in worker_hosts
    assert sandbox["com.docker.compose.project"] == stack.project  # `down` removes it with the stack

    # The seed's shell and file views, and the live view's VNC handshake, through the web service.
    shell = client.post(f"/api/v1/sessions/{agent}/shell", json={"session_id": "main"})
    assert shell.status_code == 200, shell.text
    assert shell.json()["data"]["console"][-1]["output"].strip() == sandbox["id"]  # the container's hostname
    file = client.post(f"/api/v1/sessions/{agent}/file", json={"file": f"{home}/note.txt"})
    assert file.status_code == 200, file.text
    assert file.json()["data"]["content"] == "compose-ok\n"
    assert vnc_handshake(stack, client, agent) == b"RFB 003.008\n"

    # Another system: an API key, a job, and a signed webhook when it ends.
    key = json.loads(stack.manage("create_api_key", "--owner", "ops", "--name", "ci-system"))
    llm.push(text("Job done."))
    job = httpx.post(
        f"{stack.base_url}/api/v1/jobs",
        headers={"Authorization": f"Api-Key {key['key']}"},
        json={"prompt": "Do the job", "mode": "lite", "webhook_url": stack.hooks.url, "metadata": {"n": 7}},
        timeout=30,
    )
    assert job.status_code == 202, job.text
    job_id = job.json()["data"]["job_id"]
    wait_for(lambda: stack.hooks.received, 120, "the job's webhook")
    [(headers, body)] = stack.hooks.received
    expected = hmac.new(
        key["webhook_secret"].encode(), f"{headers['x-anker-timestamp']}.".encode() + body, hashlib.sha256
    ).hexdigest()
    assert headers["x-anker-signature"] == f"sha256={expected}"
    payload = json.loads(body)
    assert (payload["event"], payload["job_id"], payload["status"], payload["metadata"]) == (
        "job.succeeded",
        job_id,
        "succeeded",
        {"n": 7},
    )
    assert payload["result"]["message"] == "Job done."

    # The API docs and the admin's login page.
    docs = httpx.get(f"{stack.base_url}/api/docs", timeout=30)
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    admin = httpx.get(f"{stack.base_url}/admin/login/", timeout=30)
    assert admin.status_code == 200 and 'name="password"' in admin.text

    # Flower answers only with its credentials.
    assert httpx.get(stack.flower_url, timeout=30).status_code == 401
    assert httpx.get(stack.flower_url, auth=(stack.env["FLOWER_USER"], "wrong"), timeout=30).status_code == 401
    flower = httpx.get(
        f"{stack.flower_url}/workers", auth=(stack.env["FLOWER_USER"], stack.env["FLOWER_PASSWORD"]), timeout=30
    )
    assert flower.status_code == 200 and "worker@" in flower.text


def _task(n: int) -> str:
    return f"[task-{n:02d}]"


def _script_turn(llm: ScriptedLLM, n: int) -> None:
    """Session n's turn, whatever worker asks and however often: plan, a shell call that runs
    SHELL_SECONDS, complete the step, deliver. Matched on the task marker and the request's phase."""
    marker = _task(n)

    def tools(body: dict[str, Any]) -> set[str]:
        return {t["function"]["name"] for t in body.get("tools") or []}

    def mentions(body: dict[str, Any]) -> bool:
        return any(marker in str(m.get("content")) for m in body["messages"])

    def last(body: dict[str, Any]) -> dict[str, Any]:
        return dict(body["messages"][-1])

    command = f"echo {n} > task.txt; hostname; sleep {SHELL_SECONDS}"
    llm.on(lambda b: "create_plan" in tools(b) and mentions(b), step_plan(f"Task {n}", f"{marker} write the file"))
    llm.on(
        lambda b: "complete_step" in tools(b) and mentions(b) and last(b)["role"] == "user",
        call("shell_exec", {"id": f"t{n}", "exec_dir": "/home/ubuntu", "command": command}, f"sh{n}"),
    )
    llm.on(
        lambda b: "complete_step" in tools(b) and mentions(b) and last(b).get("tool_call_id") == f"sh{n}",
        slow(call("complete_step", {"success": True, "result": "written"}, f"done{n}"), 1),
    )
    llm.on(
        lambda b: "deliver_result" in tools(b) and "complete_step" not in tools(b) and mentions(b),
        call("deliver_result", {"message": f"Done {marker}"}, f"result{n}"),
    )


def session_events(client: httpx.Client, session_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/sessions/{session_id}")
    assert response.status_code == 200, response.text
    return [{"type": e["event"], **e["data"]} for e in response.json()["data"]["events"]]


def send_turns(stack: Stack, client: httpx.Client, numbers: range) -> list[str]:
    """One new agent session per number, its message sent; the test follows the turns by polling."""
    sessions = []
    for n in numbers:
        _script_turn(stack.llm, n)
        session_id = new_session(client, "agent")
        body = {"message": f"{_task(n)} write {n} into task.txt", "timestamp": int(time.time())}
        with client.stream("POST", f"/api/v1/sessions/{session_id}/chat", json=body) as response:
            assert response.status_code == 200
            next(response.iter_lines())
        sessions.append(session_id)
    return sessions


def scale_workers(stack: Stack, count: int) -> list[str]:
    """`up --scale worker=N`; returns the running workers once each has said it is ready."""
    # Only the worker service: a health check of another service that a loaded machine delays
    # must not fail the scale-up.
    stack.run("up", "-d", "--no-recreate", "--no-deps", "--scale", f"worker={count}", "worker", timeout=600)

    def ready() -> list[str] | None:
        running = docker("ps", "-q", "--no-trunc", "--filter", f"label=com.docker.compose.project={stack.project}")
        workers = [c for c in stack.containers("worker") if c in running.split()]
        if len(workers) == count and all(re.search(r"@\S+ ready\.", docker_logs(c)) for c in workers):
            return workers
        return None

    return list(wait_for(ready, 300, f"{count} workers ready"))


def shells_in_flight(stack: Stack) -> dict[str, str]:
    """Sandboxes running a turn's shell call right now (its `sleep`), by container: the worker
    (host name) that started it, which before any kill is the worker running that turn."""
    found = {}
    for sandbox in stack.sandboxes():
        if sandbox["state"] == "running":
            top = docker("top", sandbox["id"], check=False)
            if f"sleep {SHELL_SECONDS}" in top:
                found[sandbox["id"]] = sandbox["anker.created-by"]
    return found


def follow(client: httpx.Client, sessions: list[str], timeout: float) -> tuple[dict[str, float], dict[str, float]]:
    """Wait for every session's turn to end. Returns when each was first seen ended, and when
    each resumed one first said so (another worker had picked it up)."""
    ended: dict[str, float] = {}
    resumed: dict[str, float] = {}

    def all_ended() -> bool:
        for session_id in sessions:
            if session_id in ended:
                continue
            events = session_events(client, session_id)
            if session_id not in resumed and any(str(e.get("content")).startswith("Resumed after") for e in events):
                resumed[session_id] = time.monotonic()
            if events[-1]["type"] in ("done", "error"):
                ended[session_id] = time.monotonic()
        return len(ended) == len(sessions)

    wait_for(all_ended, timeout, "every turn to end")
    return ended, resumed


def assert_whole_log(client: httpx.Client, session_id: str, n: int) -> list[dict[str, Any]]:
    """Nothing lost, nothing doubled: seqs 1..N without a gap, one `done` and no error, each tool
    call's `calling` and `called` once (their dedupe keys held on the resume), one final answer."""
    events = session_events(client, session_id)
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1)), (n, seqs)
    assert [e["type"] for e in events if e["type"] in ("done", "error")] == ["done"], (n, events[-3:])
    tools = Counter((e["tool_call_id"], e["status"]) for e in events if e["type"] == "tool")
    assert tools == {(f"sh{n}", "calling"): 1, (f"sh{n}", "called"): 1}, (n, tools)
    said = [e["content"] for e in events if e["type"] == "message" and e["role"] == "assistant"]
    assert [m for m in said if not m.startswith("Resumed after")] == ["On it.", f"Done {_task(n)}"], (n, said)
    return events


def sandbox_rows(stack: Stack) -> dict[str, tuple[str, str]]:
    """Every Sandbox row: id -> (session id, status)."""
    out = stack.manage(
        "shell", "-c",
        "import json; from sandboxes.models import Sandbox; "
        "print(json.dumps([[str(s.id), s.session_id, s.status] for s in Sandbox.objects.all()]))",
    )  # fmt: skip
    return {sid: (session, status) for sid, session, status in json.loads(out.strip().splitlines()[-1])}


def test_two_workers_share_twenty_turns_and_one_killed_mid_turn_loses_nothing(stack: Stack) -> None:
    log_in(stack)
    client = stack.api()
    started = time.monotonic()
    workers = scale_workers(stack, 2)
    stack.timings["second worker up"] = time.monotonic() - started
    sandboxes_before = {s["anker.sandbox"] for s in stack.sandboxes()}

    started = time.monotonic()
    sessions = send_turns(stack, client, range(20))

    # Kill a worker while one of its turns is inside a shell call: the sandbox that worker started
    # runs the call's `sleep`. Both workers must have started turns by then.
    def victim() -> str | None:
        creators = {s["anker.created-by"] for s in stack.sandboxes() if s["anker.sandbox"] not in sandboxes_before}
        if not {w[:12] for w in workers} <= creators:
            return None
        in_flight = shells_in_flight(stack)
        return next((w for w in workers if w[:12] in in_flight.values()), None)

    killed = wait_for(victim, 300, "a shell call in flight on a worker that is not alone")
    in_flight = [c for c, host in shells_in_flight(stack).items() if host == killed[:12]]
    docker("kill", killed)
    killed_at = time.monotonic()
    [survivor] = [w for w in workers if w != killed]

    ended, picked_up = follow(client, sessions, 420)
    stack.timings["20 turns over 2 workers, one killed"] = time.monotonic() - started
    stack.timings["after the kill: all 20 ended"] = max(ended.values()) - killed_at

    resumed = []
    for n, session_id in enumerate(sessions):
        events = assert_whole_log(client, session_id, n)
        if any(e["type"] == "message" and e["content"].startswith("Resumed after") for e in events):
            resumed.append(session_id)
    assert resumed, "no turn was resumed"

    # No sandbox leaked: each session has one live sandbox (re-adopted, or replaced and the old
    # one removed), and no container runs that the database does not hold live.
    live = {sid: session for sid, (session, status) in sandbox_rows(stack).items() if status in ("ready", "in_use")}
    containers = {s["anker.sandbox"]: s for s in stack.sandboxes() if s["anker.sandbox"] not in sandboxes_before}
    assert sorted(containers) == sorted(sid for sid, session in live.items() if session in sessions)
    assert all(s["state"] == "running" for s in containers.values())
    assert sorted(live[sid] for sid in containers) == sorted(sessions)
    by_worker = Counter(s["anker.created-by"] for s in containers.values())
    stack.timings["turns resumed by the other worker"] = len(resumed)
    stack.timings["sandboxes started by the killed worker"] = by_worker[killed[:12]]
    stack.timings["sandboxes started by the survivor"] = by_worker[survivor[:12]]

    # The turn whose shell call the kill cut: resumed by the survivor in the sandbox the killed
    # worker started, which the web service serves: shell view, file view, VNC.
    cut = [s for s in containers.values() if s["id"] in in_flight]
    assert cut, f"the sandbox whose shell call was cut is gone: {in_flight}"
    container_id, session_id = cut[0]["id"], live[cut[0]["anker.sandbox"]]
    assert session_id in resumed
    stack.timings["after the kill: the cut turn resumed by the survivor"] = picked_up[session_id] - killed_at
    stack.timings["after the kill: the cut turn ended"] = ended[session_id] - killed_at
    n = sessions.index(session_id)
    shell = client.post(f"/api/v1/sessions/{session_id}/shell", json={"session_id": f"t{n}"})
    assert shell.status_code == 200, shell.text
    assert shell.json()["data"]["console"][-1]["output"].strip() == container_id
    file = client.post(f"/api/v1/sessions/{session_id}/file", json={"file": "/home/ubuntu/task.txt"})
    assert (file.status_code, file.json()["data"]["content"]) == (200, f"{n}\n")
    assert vnc_handshake(stack, client, session_id) == b"RFB 003.008\n"


def test_a_worker_stopped_by_a_deploy_mid_turn_hands_its_turns_over_unseen(stack: Stack) -> None:
    """`docker stop` (SIGTERM, then SIGKILL after stop_grace_period) of one of two workers while
    a shell call of its turn runs: the turn stops at its next safe point, goes back to the queue,
    and the other worker finishes it. The user sees no error and no "Resumed" note."""
    log_in(stack)
    client = stack.api()
    workers = scale_workers(stack, 2)
    before = {s["anker.sandbox"] for s in stack.sandboxes()}
    sessions = send_turns(stack, client, range(20, 26))

    def victim() -> str | None:
        hosts = set(shells_in_flight(stack).values())
        return next((w for w in workers if w[:12] in hosts), None)

    stopping = wait_for(victim, 300, "a shell call in flight")
    started = time.monotonic()
    docker("stop", stopping, timeout=120)
    stack.timings["docker stop of a worker mid-turn"] = time.monotonic() - started
    assert "Warm shutdown" in docker_logs(stopping)
    assert re.search(r"handed over: this worker is stopping", docker_logs(stopping))

    follow(client, sessions, 300)
    stack.timings["hand-over after docker stop (all ended)"] = time.monotonic() - started
    for n, session_id in zip(range(20, 26), sessions, strict=True):
        events = assert_whole_log(client, session_id, n)
        assert not [e for e in events if e["type"] == "message" and e["content"].startswith("Resumed after")], n
    leftover = [s for s in stack.sandboxes() if s["anker.sandbox"] not in before and s["state"] != "running"]
    assert leftover == []


def test_down_removes_the_stack_with_every_sandbox_it_started(stack: Stack) -> None:
    assert stack.sandboxes() != []
    started = time.monotonic()
    down = stack.run("down", "-v", "--timeout", "20", check=False)
    if down.returncode != 0 and "has active endpoints" in down.stderr:
        # Seen once in CI: the engine still held an endpoint of a container removed a moment
        # earlier (twenty removed in parallel), so removing the network failed. Everything was
        # removed; a second `down` removes the network. Any other failure fails the test.
        time.sleep(2)
        down = stack.run("down", "-v", "--timeout", "20", check=False)
    assert down.returncode == 0, down.stderr[-4000:]
    stack.timings["down -v"] = time.monotonic() - started

    assert stack.sandboxes() == []
    assert docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={stack.project}").split() == []
    assert docker("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={stack.project}").split() == []
