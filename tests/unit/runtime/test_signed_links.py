"""Signed link tokens: the first secret signs, every secret verifies, and anything else is refused."""

from __future__ import annotations

import datetime as dt

import pytest

from services.runtime.errors import InvalidArgument, PermissionDenied
from services.runtime.signed_links import (
    CONFIRM,
    UNSUBSCRIBE,
    LinkSigner,
    default_base_url,
    parse_base_url,
    parse_secrets,
)

NOW = dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC)
REFERENCE = "ab" * 32
DAYS_90 = dt.timedelta(days=90)


def test_a_token_names_its_kind_and_reference_and_verifies_under_a_rotated_list():
    old = LinkSigner([b"old-secret-0123456789"])
    token = old.sign(UNSUBSCRIBE, REFERENCE, NOW)
    rotated = LinkSigner([b"new-secret-0123456789", b"old-secret-0123456789"])
    link = rotated.verify(token, UNSUBSCRIBE, DAYS_90, NOW + dt.timedelta(days=60))
    assert (link.kind, link.reference, link.issued_at) == (UNSUBSCRIBE, REFERENCE, NOW)
    assert rotated.sign(UNSUBSCRIBE, REFERENCE, NOW) != token  # the first secret signs
    with pytest.raises(PermissionDenied):
        LinkSigner([b"new-secret-0123456789"]).verify(token, UNSUBSCRIBE, DAYS_90, NOW)


@pytest.mark.parametrize(
    ("mangle", "error"),
    [
        (lambda t: t[:-1], PermissionDenied),  # truncated signature
        (lambda t: t.split(".")[0], InvalidArgument),  # no signature
        (lambda t: "x" + t, PermissionDenied),
        (lambda t: t.replace(".", ".!"), InvalidArgument),
        (lambda t: "", InvalidArgument),
        (lambda t: t * 5, InvalidArgument),  # over 512 characters
    ],
)
def test_forged_and_malformed_tokens_are_refused(mangle, error):
    signer = LinkSigner([b"secret-0123456789abc"])
    with pytest.raises(error):
        signer.verify(mangle(signer.sign(UNSUBSCRIBE, REFERENCE, NOW)), UNSUBSCRIBE, DAYS_90, NOW)


def test_expired_and_other_kinds_are_refused():
    signer = LinkSigner([b"secret-0123456789abc"])
    token = signer.sign(CONFIRM, REFERENCE, NOW)
    with pytest.raises(PermissionDenied):
        signer.verify(token, CONFIRM, dt.timedelta(days=7), NOW + dt.timedelta(days=7, seconds=1))
    with pytest.raises(PermissionDenied):
        signer.verify(token, UNSUBSCRIBE, DAYS_90, NOW)
    assert signer.verify(token, CONFIRM, dt.timedelta(days=7), NOW).reference == REFERENCE


def test_settings_parsers():
    assert parse_secrets("a" * 16 + ", " + "b" * 20) == (b"a" * 16, b"b" * 20)
    with pytest.raises(ValueError):
        parse_secrets("a" * 16 + ",short")
    assert parse_base_url("https://novahouse.pl/") == "https://novahouse.pl"
    with pytest.raises(ValueError):
        parse_base_url("novahouse.pl")
    assert default_base_url(None, None) == "http://127.0.0.1:8080"
    assert default_base_url("0.0.0.0", "9000") == "http://127.0.0.1:9000"
