"""Which network addresses Anker may reach on someone's behalf (webhooks, a sandbox's egress)."""

from __future__ import annotations

import ipaddress
import socket

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefusedError(Exception):
    """The host cannot be resolved, or resolves to an address that is not public."""


def address_is_public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


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
    allowed = [a for a in addresses if address_is_public(ipaddress.ip_address(a.split("%", 1)[0]))]
    if not allowed or len(allowed) != len(addresses):
        raise AddressRefusedError(
            f"{host} resolves to a loopback, private, link-local or multicast address, which is not allowed"
        )
    return allowed
