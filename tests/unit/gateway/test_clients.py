"""The client key behind proxies, and identity values that are safe as gRPC metadata."""

from __future__ import annotations

import ipaddress

import pytest

from services.gateway.application.clients import ClientKeyResolver, metadata_safe, parse_address, request_id

TRUSTED = ClientKeyResolver([ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32")])


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "key"),
    [
        ("203.0.113.5", None, "203.0.113.5"),
        ("203.0.113.5", "198.51.100.1", "203.0.113.5"),  # an untrusted peer's header is ignored
        ("10.0.0.2", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the right-most untrusted address
        ("10.0.0.2", "198.51.100.1, 10.0.0.9, 10.0.0.3", "198.51.100.1"),  # through trusted hops
        ("10.0.0.2", "10.0.0.9, 10.0.0.3", "10.0.0.9"),  # all trusted: the farthest hop
        ("10.0.0.2", "not-an-ip, 10.0.0.3", "10.0.0.3"),  # garbage stops the walk
        ("10.0.0.2", "198.51.100.1:4711", "198.51.100.1"),
        ("10.0.0.2", "[2001:db8::7]:443", "2001:db8::7"),
        ("127.0.0.1", "::ffff:198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "", "10.0.0.2"),
        (None, "198.51.100.1", "unknown"),
    ],
)
def test_the_client_key(peer, forwarded_for, key):
    assert TRUSTED.client_key(peer, forwarded_for) == key


def test_without_trusted_proxies_the_peer_is_the_client():
    assert ClientKeyResolver([]).client_key("127.0.0.1", "198.51.100.1") == "127.0.0.1"


def test_addresses_in_the_forms_proxies_write_them():
    assert str(parse_address(' "192.0.2.1" ')) == "192.0.2.1"
    assert parse_address("unknown") is None
    assert parse_address("") is None


def test_user_agents_become_printable_ascii():
    assert metadata_safe(b"Mozilla/5.0 (X11)") == "Mozilla/5.0 (X11)"
    assert metadata_safe("zażółć\t".encode()) == "za%C5%BC%C3%B3%C5%82%C4%87%09"
    assert len(metadata_safe(b"a" * 5000)) == 512


def test_request_ids_are_kept_when_sane_and_generated_otherwise():
    assert request_id("req-42_a.b:c") == "req-42_a.b:c"
    for bad in (None, "", "x" * 129, "with space", "ż"):
        generated = request_id(bad)
        assert len(generated) == 32
        assert generated != bad
