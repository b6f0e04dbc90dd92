"""The outbound address policy (webhooks, a local sandbox's egress): global addresses only,
plus what OUTBOUND_ALLOWED_NETWORKS lists."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Any

import pytest

from anker_project.net import AddressRefusedError, address_is_public, public_addresses
from jobs.webhooks import WebhookTargetError, webhook_target_check
from sandboxes.egress import EgressProxy

NOT_PUBLIC = [
    "100.64.0.1",  # carrier-grade NAT (RFC 6598)
    "100.100.100.200",  # a cloud metadata service inside 100.64.0.0/10
    "100.127.255.254",
    "fec0::1",  # deprecated site-local IPv6
    "fec0:0:0:ffff::1",
    "198.18.0.1",  # benchmarking
    "192.0.2.1",  # documentation
    "2001:db8::1",
    "240.0.0.1",  # reserved
    "0.0.0.0",
    "255.255.255.255",
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "::1",
    "fe80::1",
    "fc00::1",
    "::ffff:10.0.0.1",  # IPv4-mapped private
    "::ffff:100.100.100.200",
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b:1::1",  # local-use NAT64
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "224.0.0.1",
    "ff02::1",
]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_addresses_that_are_not_global_are_refused(address: str) -> None:
    assert address_is_public(ipaddress.ip_address(address), extra=[]) is False
    with pytest.raises(AddressRefusedError, match="not public"):
        public_addresses(address, 443)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808"])
def test_global_addresses_are_allowed(address: str) -> None:
    assert public_addresses(address, 443) == [address]


def test_an_explicitly_allowed_network_is_reachable_and_nothing_beside_it(settings: Any) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = ["100.100.100.0/24"]

    assert public_addresses("100.100.100.200", 443) == ["100.100.100.200"]
    with pytest.raises(AddressRefusedError):
        public_addresses("100.100.101.1", 443)


def test_a_webhook_to_the_cgnat_metadata_address_is_refused() -> None:
    with pytest.raises(WebhookTargetError, match="not public"):
        webhook_target_check("http://100.100.100.200/latest/meta-data")


@pytest.mark.parametrize("target", ["100.100.100.200:443", "[fec0::1]:443", "[64:ff9b::a9fe:a9fe]:443"])
def test_the_sandbox_egress_proxy_refuses_shared_and_site_local_addresses(tmp_path: Path, target: str) -> None:
    proxy = EgressProxy(str(tmp_path / "egress.sock"))
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(10)
            client.connect(proxy.socket_path)
            client.sendall(f"CONNECT {target} HTTP/1.1\r\n\r\n".encode())
            answer = client.recv(4096)
    finally:
        proxy.close()

    assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n"), answer
    assert b"not public" in answer
