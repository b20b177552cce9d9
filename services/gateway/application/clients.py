"""Who is calling: the client key that rate limits count against and that services see as the IP.

The key is the TCP peer's address. Only when the peer is one of TRUSTED_PROXIES is X-Forwarded-For
believed, and then only as far as trusted hops reach: walking the list from the right, the first
address that is not a trusted proxy is the client. Anything to its left was written by the client and
could be anything.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_USER_AGENT = 512
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=@-]{1,128}$")
_BRACKETED = re.compile(r"^\[([0-9A-Fa-f:.]+)\](?::\d+)?$")
_V4_WITH_PORT = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3}):\d+$")
_PRINTABLE_ASCII = re.compile(rb"^[\x20-\x7e]*$")


@dataclass(frozen=True)
class ClientContext:
    """What the transport learned about the caller before routing."""

    key: str  # the address rate limits count against and services record
    user_agent: str  # printable ASCII, safe as gRPC metadata
    request_id: str


class ClientKeyResolver:
    def __init__(self, trusted_proxies: Sequence[Network]) -> None:
        self._trusted = tuple(trusted_proxies)

    def _is_trusted(self, address: Address) -> bool:
        return any(address in network for network in self._trusted)

    def client_key(self, peer: str | None, forwarded_for: str | None) -> str:
        if not peer:
            return "unknown"  # e.g. a UNIX socket: no address to tell clients apart
        if not forwarded_for or not self._trusted:
            return peer
        peer_address = parse_address(peer)
        if peer_address is None or not self._is_trusted(peer_address):
            return peer
        client = peer_address
        for hop in reversed(forwarded_for.split(",")):
            address = parse_address(hop)
            if address is None:
                break  # garbage a client wrote; the last trusted hop is the best we know
            client = address
            if not self._is_trusted(address):
                break
        return str(client)


def parse_address(text: str) -> Address | None:
    """'203.0.113.7', '203.0.113.7:5000', '[2001:db8::1]:443', '::ffff:10.0.0.1' -> an address
    (IPv4-mapped IPv6 addresses become IPv4); None for anything else."""
    text = text.strip().strip('"')
    for pattern in (_BRACKETED, _V4_WITH_PORT):
        match = pattern.match(text)
        if match:
            text = match.group(1)
            break
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def request_id(header: str | None) -> str:
    """The caller's X-Request-ID when it is a sane token, otherwise a new one."""
    if header and _REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


def metadata_safe(raw: bytes, limit: int = MAX_USER_AGENT) -> str:
    """gRPC metadata values are printable ASCII: other bytes (e.g. UTF-8 in a User-Agent) are
    percent-encoded, and long values are cut."""
    if _PRINTABLE_ASCII.match(raw):
        return raw[:limit].decode("ascii")
    text = "".join(chr(byte) if 0x20 <= byte < 0x7F else f"%{byte:02X}" for byte in raw)
    return text[:limit]
