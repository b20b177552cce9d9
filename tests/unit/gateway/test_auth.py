"""Admin key and signed email tokens."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from services.gateway.application.auth import Access, AdminAuth, email_token
from services.gateway.application.errors import GatewayError

KEY = "admin-key-0123456789"
SECRET = b"unsubscribe-secret-0123"


def outcome(auth: AdminAuth, access: Access, key: bytes | None = None, token=None, email=None) -> int:
    try:
        auth.authorize(access, key, token, email)
    except GatewayError as error:
        return error.status
    return 200


def test_the_token_is_the_hex_hmac_sha256_of_the_normalised_email():
    expected = hmac.new(SECRET, b"anna+news@example.com", hashlib.sha256).hexdigest()
    assert email_token(SECRET, "  Anna+News@Example.COM ") == expected


@pytest.mark.parametrize(
    ("key", "status"),
    [(None, 401), (b"", 401), (KEY.encode() + b"x", 401), (KEY[:-1].encode(), 401), (KEY.encode(), 200)],
)
def test_admin_routes_need_the_exact_key(key, status):
    assert outcome(AdminAuth(KEY, SECRET), Access.ADMIN, key) == status


def test_no_configured_key_turns_admin_routes_off():
    auth = AdminAuth(None, SECRET)
    assert outcome(auth, Access.ADMIN, KEY.encode()) == 403
    assert outcome(auth, Access.ADMIN_OR_EMAIL_TOKEN, KEY.encode()) == 403
    assert outcome(auth, Access.PUBLIC) == 200


def test_the_status_route_takes_the_admin_key_or_the_persons_own_token():
    auth = AdminAuth(KEY, SECRET)
    own = email_token(SECRET, "anna@example.com")
    route = Access.ADMIN_OR_EMAIL_TOKEN
    assert outcome(auth, route, token=own, email="Anna@Example.com") == 200
    assert outcome(auth, route, token=own, email="ola@example.com") == 403
    assert outcome(auth, route, token=own.upper(), email="anna@example.com") == 403
    assert outcome(auth, route, token="ż", email="anna@example.com") == 403
    assert outcome(auth, route, token=own, email="not an email") == 403
    assert outcome(auth, route) == 401
    assert outcome(auth, route, key=KEY.encode(), email="ola@example.com") == 200
    assert outcome(AdminAuth(KEY, None), route, token=own, email="anna@example.com") == 403


def test_status_tokens_verify_under_every_secret_of_a_rotated_list():
    new = b"new-unsubscribe-secret-01"
    auth = AdminAuth(KEY, (new, SECRET))
    route = Access.ADMIN_OR_EMAIL_TOKEN
    for secret in (SECRET, new):
        assert outcome(auth, route, token=email_token(secret, "a@b.pl"), email="a@b.pl") == 200
    assert outcome(AdminAuth(KEY, (new,)), route, token=email_token(SECRET, "a@b.pl"), email="a@b.pl") == 403
