"""Which network addresses Anker may reach on someone's behalf (webhooks, a sandbox's egress).

An allow-list, not a deny-list: only addresses `ipaddress` calls global are reachable (so not
loopback, private, link-local, carrier-grade NAT 100.64.0.0/10 — where some clouds keep their
metadata service, e.g. 100.100.100.200 — site-local fec0::/10, documentation, benchmarking or
reserved ranges), plus the networks an operator lists in OUTBOUND_ALLOWED_NETWORKS.
"""

from __future__ import annotations

import ipaddress
import socket

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# Not global although Python 3.11's `is_global` says so: deprecated site-local IPv6 (RFC 3879)
# and local-use NAT64 (RFC 8215).
NOT_GLOBAL = (ipaddress.ip_network("fec0::/10"), ipaddress.ip_network("64:ff9b:1::/48"))
# The well-known NAT64 prefix: where a NAT64 gateway exists, 64:ff9b::a00:1 reaches 10.0.0.1.
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefusedError(Exception):
    """The host cannot be resolved, or resolves to an address that is not public."""


def _unwrap(address: Address) -> Address:
    """The IPv4 address inside an IPv4-mapped, NAT64, 6to4 or Teredo IPv6 address: what is really reached."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
    return address


def allowed_networks() -> list[Network]:
    """OUTBOUND_ALLOWED_NETWORKS: CIDRs reachable although not global (an internal webhook receiver)."""
    return [ipaddress.ip_network(cidr, strict=False) for cidr in settings.OUTBOUND_ALLOWED_NETWORKS]


def address_is_public(address: Address, *, extra: list[Network] | None = None) -> bool:
    """True for a global unicast address, or one inside an explicitly allowed network."""
    nets = allowed_networks() if extra is None else extra
    if any(address.version == net.version and address in net for net in nets):
        return True
    inner = _unwrap(address)
    if inner is not address and not address_is_public(inner, extra=nets):
        return False
    if any(inner.version == net.version and inner in net for net in NOT_GLOBAL):
        return False
    return inner.is_global and not inner.is_multicast


def public_addresses(host: str, port: int, *, allow_private: bool = False) -> list[str]:
    """The addresses of `host` to connect to: all must be public (unless `allow_private`), so a
    name that also resolves to an internal address is refused whole. Raises AddressRefusedError."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError, UnicodeError) as exc:
        raise AddressRefusedError(f"{host} cannot be resolved: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if allow_private:
        return addresses
    nets = allowed_networks()
    allowed = [a for a in addresses if address_is_public(ipaddress.ip_address(a.split("%", 1)[0]), extra=nets)]
    if not allowed or len(allowed) != len(addresses):
        raise AddressRefusedError(
            f"{host} resolves to an address that is not public (loopback, private, shared, link-local, "
            "reserved or multicast), which is not allowed"
        )
    return allowed
