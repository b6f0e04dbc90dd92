"""The tool API's own contract suite (sandbox-image/toolapi/tests), run against sandboxes
started by OUR backends, so the backends' wiring (token, root, socket, ports) is what is tested."""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
import sys
import uuid

import pytest

from sandboxes.backends import SandboxEndpoint, get_backend
from tests.bootstrap import ROOT

SUITE = ROOT / "sandbox-image" / "toolapi" / "tests"


def run_contract_suite(endpoint: SandboxEndpoint, *, root: str, services: str) -> subprocess.CompletedProcess[str]:
    url = f"unix://{endpoint.tool_api_socket}" if endpoint.tool_api_socket else endpoint.tool_api_url
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLAPI_")}
    env.update(TOOLAPI_TEST_URL=url, TOOLAPI_TEST_TOKEN=endpoint.token, TOOLAPI_TEST_ROOT=root)
    env["TOOLAPI_TEST_SERVICES"] = services
    return subprocess.run(
        # The project's addopts load the Django test bootstrap; the suite needs none of it.
        [
            sys.executable,
            "-m",
            "pytest",
            str(SUITE),
            "-q",
            "-o",
            "addopts=",
            "-p",
            "no:django",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def summary(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    last = result.stdout.strip().splitlines()[-1]
    return {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|skipped|error)", last)}


def test_the_contract_suite_passes_against_a_local_jail(jail: None) -> None:
    backend = get_backend("local")
    sandbox_id = str(uuid.uuid4())
    endpoint = backend.create(sandbox_id)
    try:
        result = run_contract_suite(
            endpoint, root="/workspace", services=",".join(s for s in endpoint.services if s in ("x", "cdp", "vnc"))
        )
    finally:
        backend.destroy(sandbox_id)
    counts = summary(result)
    assert result.returncode == 0, result.stdout[-4000:]
    assert counts.get("failed", 0) == 0 and counts.get("error", 0) == 0
    # Only the five tests that need the server's own process skip for a remote target.
    assert counts.get("skipped", 0) == 5, result.stdout[-2000:]
    assert counts["passed"] > 50


def sandbox_subnet() -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    from sandboxes.backends.docker import sandbox_network

    return ipaddress.ip_network(sandbox_network().attrs["IPAM"]["Config"][0]["Subnet"])


@pytest.mark.docker
def test_the_contract_suite_passes_against_a_docker_sandbox(settings: object) -> None:
    settings.SANDBOX_DOCKER_TOOLAPI_ROOT = "/home/ubuntu"  # type: ignore[attr-defined]  # the full contract
    backend = get_backend("docker")
    sandbox_id = str(uuid.uuid4())
    endpoint = backend.create(sandbox_id)
    try:
        # Reached at the address the engine gave it on the sandbox network; CDP and VNC only
        # through the tool API's relays.
        address = endpoint.tool_api_url.removeprefix("http://").removesuffix(":8080")
        assert ipaddress.ip_address(address) in sandbox_subnet()
        assert (endpoint.cdp_url, endpoint.vnc_ws_url) == (f"ws://{address}:8080/cdp", f"ws://{address}:8080/vnc")
        result = run_contract_suite(endpoint, root="/home/ubuntu", services="x,cdp,vnc")
    finally:
        backend.destroy(sandbox_id)
    counts = summary(result)
    assert result.returncode == 0, result.stdout[-4000:]
    assert counts.get("failed", 0) == 0 and counts.get("error", 0) == 0
    assert counts.get("skipped", 0) == 5, result.stdout[-2000:]
    assert counts["passed"] > 50
    assert settings.SANDBOX_NAME_PREFIX.startswith("anker-test-")  # type: ignore[attr-defined]
