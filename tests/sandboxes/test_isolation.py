"""What a sandbox can reach, and who can reach into it, tried from inside real sandboxes.

Docker containers and bubblewrap jails alike: the tool API is the only way in (its bearer token on
every request, WebSocket relays included: `/cdp` and `/vnc`), and the egress proxy is the only way
out (public addresses only). From inside a Docker sandbox: no other sandbox's ports answer, the
Docker host's and the platform's services do not, link-local and private targets get the policy's
403; a page the sandbox's Chromium opens cannot speak CDP or VNC to its own desktop; and the
browser tool, the live view and take-over still work through the relays.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets.sync.client as ws_client
from websockets.exceptions import InvalidStatus

from agents.tools.browser import BrowserSession
from anker_project.net import AddressRefusedError, public_addresses
from sandboxes.backends import SandboxEndpoint, SandboxStartError, get_backend
from sandboxes.backends.docker import engine_available
from sandboxes.tool_api import ToolApiClient

from .conftest import _missing

REFUSAL = "Anker's sandbox network refuses"
# Ports the platform's services use (web, Flower, Redis, PostgreSQL, MongoDB) and the desktop's.
PLATFORM_PORTS = (8000, 5555, 6379, 5432, 27017)
DESKTOP_PORTS = (8080, 9222, 9229, 5900, 6080)

SCAN = r"""
import concurrent.futures, json, socket, sys
def probe(target):
    host, port = target
    with socket.socket() as s:
        s.settimeout(1.0)
        try:
            s.connect((host, port))
            return f"{host}:{port}"
        except OSError:
            return None
targets = [tuple(t) for t in json.load(open(sys.argv[1]))]
with concurrent.futures.ThreadPoolExecutor(64) as pool:
    answered = sorted(r for r in pool.map(probe, targets) if r)
print("ANSWERED " + json.dumps(answered) + f" OF {len(targets)}")
"""


@pytest.fixture(params=["docker", "local"])
def backend_name(request: pytest.FixtureRequest) -> str:
    if request.param == "docker":
        if not engine_available():
            _missing("no Docker engine answers (set DOCKER_HOST, e.g. unix:///run/anker-docker.sock)")
        request.getfixturevalue("docker_backend")
    else:
        request.getfixturevalue("local_desktop_backend")
    return str(request.param)


class Sandboxes:
    """Creates sandboxes of one backend and destroys them all at the end of the test."""

    def __init__(self, name: str) -> None:
        self.backend = get_backend(name)
        self.created: list[str] = []

    def create(self) -> SandboxEndpoint:
        sandbox_id = str(uuid.uuid4())
        self.created.append(sandbox_id)
        return self.backend.create(sandbox_id)

    def destroy_all(self) -> None:
        for sandbox_id in self.created:
            self.backend.destroy(sandbox_id)


@pytest.fixture
def sandboxes(backend_name: str) -> Iterator[Sandboxes]:
    made = Sandboxes(backend_name)
    try:
        yield made
    finally:
        made.destroy_all()


@pytest.fixture
def docker_sandboxes(docker_backend: str) -> Iterator[Sandboxes]:
    made = Sandboxes("docker")
    try:
        yield made
    finally:
        made.destroy_all()


def api(endpoint: SandboxEndpoint) -> ToolApiClient:
    return ToolApiClient(endpoint.tool_api_url, endpoint.token, uds=endpoint.tool_api_socket, timeout=60)


def shell(endpoint: SandboxEndpoint, command: str, wait: float = 40) -> str:
    with api(endpoint) as client:
        return str(client.shell_exec(id=f"t{uuid.uuid4().hex[:6]}", command=command, wait_seconds=wait)["output"])


def address_of(endpoint: SandboxEndpoint) -> str:
    return endpoint.tool_api_url.removeprefix("http://").rsplit(":", 1)[0]


def gateway_address() -> str:
    from sandboxes.backends.docker import sandbox_network

    return str(sandbox_network().attrs["IPAM"]["Config"][0]["Gateway"])


@pytest.fixture
def host_service() -> Iterator[int]:
    """A stand-in for a platform service listening on every interface of the host."""
    listener = socket.create_server(("0.0.0.0", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                conn.close()
            except OSError:
                continue

    threading.Thread(target=serve, daemon=True).start()
    yield int(listener.getsockname()[1])
    stop.set()
    listener.close()


# --- nothing answers but the egress proxy -------------------------------------------------------


@pytest.mark.docker
def test_from_a_docker_sandbox_no_other_sandbox_the_host_or_the_platform_answers(
    docker_sandboxes: Sandboxes, host_service: int
) -> None:
    a, b = docker_sandboxes.create(), docker_sandboxes.create()
    a_ip, b_ip, gateway = address_of(a), address_of(b), gateway_address()
    # B is alive and its tool API answers the host (where the backend reaches it).
    with socket.create_connection((b_ip, 8080), timeout=5):
        pass
    with socket.create_connection((gateway, host_service), timeout=5):
        pass
    subnet = ipaddress.ip_network(f"{a_ip}/24", strict=False)
    targets = [[str(host), port] for host in subnet.hosts() if str(host) != a_ip for port in DESKTOP_PORTS]
    targets += [[gateway, port] for port in (host_service, 22, *PLATFORM_PORTS)]
    targets += [["169.254.169.254", 80], ["172.17.0.1", host_service], ["8.8.8.8", 53], ["1.1.1.1", 443]]
    assert [b_ip, 8080] in targets
    with api(a) as client:
        client.file_write(file=f"{a.home}/scan.py", content=SCAN)
        client.file_write(file=f"{a.home}/targets.json", content=json.dumps(targets))
    out = shell(a, f"python3 {a.home}/scan.py {a.home}/targets.json")

    assert f"ANSWERED [] OF {len(targets)}" in out, out


def test_a_private_or_link_local_target_gets_the_policys_readable_403(sandboxes: Sandboxes) -> None:
    endpoint = sandboxes.create()
    curl = "curl -s -m 10 -w ' [%{http_code}]' "
    out = shell(
        endpoint,
        f"{curl} http://169.254.169.254/latest/meta-data/; echo; {curl} http://10.1.2.3:8080/; echo; "
        f"{curl} https://100.100.100.200/ 2>&1; echo",
    )

    with pytest.raises(AddressRefusedError) as policy:  # the words of the one policy, on either backend
        public_addresses("169.254.169.254", 80)
    assert f"{REFUSAL} 169.254.169.254: {policy.value}\n [403]" in out, out
    assert f"{REFUSAL} 10.1.2.3" in out and out.count("[403]") == 2, out
    # HTTPS is a CONNECT the proxy refuses the same way: curl sees the 403 and gives up.
    assert "[000]" in out or "[403]" in out.rsplit("\n", 2)[-2], out


# --- the tool API is the only way in, and only with the sandbox's own token -----------------------


def relay_status(endpoint: SandboxEndpoint, path: str, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    try:
        if endpoint.tool_api_socket:
            with ws_client.unix_connect(
                endpoint.tool_api_socket, f"ws://sandbox{path}", additional_headers=headers, open_timeout=30
            ):
                return 101
        with ws_client.connect(
            endpoint.tool_api_url.replace("http://", "ws://") + path, additional_headers=headers, open_timeout=30
        ):
            return 101
    except InvalidStatus as refused:
        return int(refused.response.status_code)


def toolapi_log(endpoint: SandboxEndpoint) -> str:
    if endpoint.tool_api_socket:
        return (Path(endpoint.tool_api_socket).parent / "logs" / "toolapi.log").read_text()
    with api(endpoint) as client:
        return str(client.file_read(file="/tmp/anker-logs/toolapi.log")["content"])


def test_a_sandboxs_token_opens_nothing_of_another_sandbox(sandboxes: Sandboxes) -> None:
    a, b = sandboxes.create(), sandboxes.create()

    assert relay_status(b, "/cdp", a.token) == 401
    assert relay_status(b, "/vnc", a.token) == 401
    assert relay_status(b, "/vnc", None) == 401
    with ToolApiClient(b.tool_api_url, a.token, uds=b.tool_api_socket) as wrong:
        refused = wrong._client.get("/health")
    assert (refused.status_code, refused.json()) == (401, {"ok": False, "error": "missing or invalid bearer token"})

    # Each refusal is counted in B's log; none reached B's desktop, which still works for B's token.
    deadline = time.monotonic() + 15  # supervisord copies the tool API's output to the file
    while "(4 refused since start)" not in (log := toolapi_log(b)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "refused GET /cdp" in log and "refused GET /vnc" in log and "(4 refused since start)" in log, log
    assert a.token not in log and b.token not in log
    assert relay_status(b, "/cdp", b.token) == 101
    assert relay_status(b, "/vnc", b.token) == 101


# --- a page cannot reach its own desktop ----------------------------------------------------------

ATTACK_PAGE = """<!doctype html><title>working</title><script>
const out = {};
const tries = %(tries)s;
function done(name, how) {
  if (name in out) return;
  out[name] = how;
  if (Object.keys(out).length === Object.keys(tries).length) document.title = 'RESULT ' + JSON.stringify(out);
}
for (const [name, url] of Object.entries(tries)) {
  if (url.startsWith('ws')) {
    try {
      const ws = new WebSocket(url, 'binary');
      ws.onopen = () => done(name, 'open');
      ws.onmessage = (m) => done(name, 'message');
      ws.onerror = () => done(name, 'error');
      ws.onclose = () => done(name, 'error');
    } catch (e) { done(name, 'error'); }
  } else {
    fetch(url).then(r => r.text()).then(t => done(name, 'read ' + t.slice(0, 30)), () => done(name, 'error'));
  }
}
</script>"""


def browser(endpoint: SandboxEndpoint) -> BrowserSession:
    return BrowserSession(str(endpoint.cdp_url), headers={"Authorization": f"Bearer {endpoint.token}"})


def test_a_page_in_the_sandboxs_chromium_cannot_speak_cdp_or_vnc_to_its_own_desktop(sandboxes: Sandboxes) -> None:
    endpoint = sandboxes.create()
    starter = browser(endpoint)  # the desktop starts on the first browser call
    try:
        assert starter.run(lambda page: page.evaluate("1 + 1")) == 2
    finally:
        starter.close()
    # The worst case: the page even knows the browser's DevTools id (the agent's shell can read it).
    version = shell(endpoint, "curl -s --noproxy '*' http://127.0.0.1:9229/json/version")
    browser_path = "/devtools/browser/" + version.split("/devtools/browser/", 1)[1].split('"', 1)[0]
    tries = {
        "cdp_socket": f"ws://127.0.0.1:9229{browser_path}",
        "cdp_http": "http://127.0.0.1:9229/json/version",
        "cdp_localhost": f"ws://localhost:9229{browser_path}",
        "vnc_5900": "ws://127.0.0.1:5900/",
        "websockify_6080": "ws://127.0.0.1:6080/websockify",
        "toolapi_vnc": "ws://127.0.0.1:8080/vnc",
        "egress_forwarder": "http://127.0.0.1:3128/",
    }
    with api(endpoint) as client:
        client.file_write(file=f"{endpoint.home}/attack.html", content=ATTACK_PAGE % {"tries": json.dumps(tries)})
    session = browser(endpoint)
    try:
        session.run(lambda page: page.goto(f"file://{endpoint.home}/attack.html"))
        title = session.run(
            lambda page: (
                page.wait_for_function("document.title.startsWith('RESULT ')", timeout=30_000),
                page.title(),
            )[1]
        )
    finally:
        session.close()

    assert json.loads(title.removeprefix("RESULT ")) == dict.fromkeys(tries, "error")


# --- the browser tool, the live view and take-over work through the relays ------------------------


def rfb_connect(endpoint: SandboxEndpoint) -> Any:
    headers = {"Authorization": f"Bearer {endpoint.token}"}
    if endpoint.tool_api_socket:
        return ws_client.unix_connect(
            endpoint.tool_api_socket, "ws://sandbox/vnc", additional_headers=headers, subprotocols=["binary"]
        )
    return ws_client.connect(str(endpoint.vnc_ws_url), additional_headers=headers, subprotocols=["binary"])


class Rfb:
    def __init__(self, conn: Any) -> None:
        self.conn, self.buffer = conn, b""

    def read(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self.buffer += self.conn.recv(timeout=15)
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def handshake(self) -> tuple[int, int]:
        assert self.read(12) == b"RFB 003.008\n"
        self.conn.send(b"RFB 003.008\n")
        count = self.read(1)[0]
        assert 1 in self.read(count)  # None: the relay's token is the authentication
        self.conn.send(b"\x01")
        assert self.read(4) == b"\x00\x00\x00\x00"
        self.conn.send(b"\x01")  # shared
        width, height = struct.unpack(">HH", self.read(4))
        self.read(16)
        (name_length,) = struct.unpack(">I", self.read(4))
        self.read(name_length)
        return width, height

    def click(self, x: int, y: int) -> None:
        for buttons in (1, 0):
            self.conn.send(struct.pack(">BBHH", 5, buttons, x, y))

    def type_text(self, text: str) -> None:
        for char in text:
            for down in (1, 0):
                self.conn.send(struct.pack(">BBHI", 4, down, 0, ord(char)))


def test_the_browser_tool_live_view_and_take_over_work_through_the_relays(sandboxes: Sandboxes) -> None:
    endpoint = sandboxes.create()
    with api(endpoint) as client:
        client.file_write(
            file=f"{endpoint.home}/form.html",
            content="<title>Take over</title><input id=q autofocus style='width:90vw;height:90vh'>",
        )
    session = browser(endpoint)
    try:
        assert session.run(lambda page: (page.goto(f"file://{endpoint.home}/form.html"), page.title())[1]) == (
            "Take over"
        )
        # The user takes over: the live view's RFB stream, a click into the field and keys typed.
        with rfb_connect(endpoint) as conn:
            rfb = Rfb(conn)
            assert rfb.handshake() == (1280, 800)
            rfb.click(640, 400)
            rfb.type_text("anker")
            deadline = time.monotonic() + 15
            value = ""
            while value != "anker" and time.monotonic() < deadline:
                value = session.run(lambda page: page.input_value("#q"))
                time.sleep(0.1)
            # The live view: a full frame comes back (asked last: an unread frame stalls input).
            conn.send(struct.pack(">BBHHHH", 3, 0, 0, 0, 1280, 800))
            assert rfb.read(1) == b"\x00"  # FramebufferUpdate
    finally:
        session.close()
    assert value == "anker"


# --- failures ---------------------------------------------------------------------------------------


@pytest.mark.docker
def test_a_docker_sandbox_not_ready_in_time_is_destroyed_and_the_error_says_so(
    docker_sandboxes: Sandboxes, settings: Any
) -> None:
    # A deadline that has passed before the first health poll: the container is made and started,
    # then found not ready. (0.001 s allowed one poll, which a slow engine's start let succeed: the
    # tool API was already listening when `docker start` returned.)
    settings.SANDBOX_START_TIMEOUT_SECONDS = 0
    with pytest.raises(SandboxStartError, match=r"^the sandbox was not ready within 0 s \(no answer\)$"):
        docker_sandboxes.create()
    assert docker_sandboxes.backend.list() == []


@pytest.mark.docker
def test_a_seal_helper_left_over_neither_blocks_the_next_seal_nor_outlives_its_sandbox(
    docker_sandboxes: Sandboxes, settings: Any
) -> None:
    # A seal helper whose removal failed (seen once in CI, an engine under load) keeps its name:
    # the sandbox's next seal (a wake after `docker stop`) took that name and failed on it.
    from sandboxes.backends.docker.client import LABEL_PREFIX, engine
    from sandboxes.backends.docker.seal import helper_name, seal

    docker_sandboxes.create()
    sandbox_id = docker_sandboxes.created[-1]
    container = docker_sandboxes.backend.container(sandbox_id)
    assert container is not None
    name = helper_name(container.name)

    def left_over() -> None:
        engine().containers.create(
            settings.SANDBOX_IMAGE, name=name, entrypoint=["true"], labels={LABEL_PREFIX: settings.SANDBOX_NAME_PREFIX}
        )

    def helpers() -> list[str]:
        return [c.name for c in engine().containers.list(all=True, filters={"name": name}) if c.name == name]

    left_over()
    seal(container, None)  # the egress sealed shut; before, a name conflict: "could not seal"
    assert helpers() == []  # this seal's own helper is gone too

    left_over()
    docker_sandboxes.backend.destroy(sandbox_id)
    assert helpers() == []
    assert docker_sandboxes.backend.list() == []


@pytest.mark.docker
def test_a_missing_image_with_autobuild_off_is_a_clear_error_naming_the_build_command(
    docker_sandboxes: Sandboxes, settings: Any
) -> None:
    settings.SANDBOX_IMAGE = "anker-sandbox:not-built-here"
    settings.SANDBOX_IMAGE_AUTOBUILD = False  # on (the default), the first request builds it: test_image_build.py
    with pytest.raises(SandboxStartError) as refused:
        docker_sandboxes.create()
    assert str(refused.value) == (
        "the sandbox image anker-sandbox:not-built-here is not on this Docker host; build it on this host with: "
        "SANDBOX_IMAGE=anker-sandbox:not-built-here sandbox-image/build.sh"
    )
    assert docker_sandboxes.backend.list() == []
    assert settings.SANDBOX_NAME_PREFIX.startswith("anker-test-")


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_a_turn_whose_sandbox_is_not_ready_in_time_ends_with_an_error_that_says_so(
    docker_backend: str, settings: Any, alice: Any, llm: Any
) -> None:
    from agents.models import Turn
    from agents.services import chat_send, turn_run
    from sandboxes.models import Sandbox
    from tests.agents.helpers import events, new_agent_session
    from tests.agents.test_agent_turn import call, plan

    settings.SANDBOX_START_TIMEOUT_SECONDS = 0  # the deadline passes before the first health poll
    # The sandbox starts while the model plans; the turn meets its failure at the first tool call.
    llm.push(plan("List the files"), call("shell_exec", {"id": "main", "exec_dir": "/tmp", "command": "ls"}, "c1"))
    session = new_agent_session(alice)
    turn = chat_send(session_id=session.id, message="List the files")
    assert turn is not None

    assert turn_run(turn_id=str(turn.id)) == "failed"

    [error] = events(session.id, "error")
    assert error["error"] == "Could not start a sandbox: the sandbox was not ready within 0 s (no answer)", error
    assert Turn.objects.get(pk=turn.id).error == error["error"]
    assert list(Sandbox.objects.filter(session_id=session.id).values_list("status", flat=True)) == ["failed"]
    assert get_backend("docker").list() == []  # destroyed, not left running


@pytest.fixture
def egress_service() -> Iterator[tuple[str, int]]:
    """The compose `egress-proxy` service's command, listening on the sandbox network's gateway."""
    import os
    import subprocess
    import sys

    from tests.bootstrap import ROOT

    proc = subprocess.Popen(
        [sys.executable, "manage.py", "sandbox_egress_proxy", "--host", gateway_address(), "--port", "0"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or "test-" + "k" * 40},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("sandbox egress proxy listening on "), line
    host, port = line.split()[-1].rsplit(":", 1)
    yield host, int(port)
    proc.terminate()
    assert proc.wait(timeout=10) == 0  # SIGTERM is a clean stop


@pytest.mark.docker
def test_docker_sandboxes_go_out_through_the_egress_proxy_service_when_one_is_configured(
    docker_sandboxes: Sandboxes, egress_service: tuple[str, int], settings: Any
) -> None:
    host, port = egress_service
    settings.SANDBOX_EGRESS_PROXY = f"{host}:{port}"
    endpoint = docker_sandboxes.create()

    out = shell(endpoint, "echo proxy=$https_proxy; curl -s -m 10 -w ' [%{http_code}]' http://169.254.169.254/")

    assert f"proxy=http://{host}:{port}\n" in out, out
    assert f"{REFUSAL} 169.254.169.254" in out and out.rstrip().endswith("[403]"), out
