"""Admin key and signed email tokens."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from services.gateway import status_token
from services.gateway.application.auth import Access, AdminAuth, email_token
from services.gateway.application.errors import GatewayError

KEY = "admin-key-0123456789"
SECRET = b"unsubscribe-secret-0123"
NOW = 1_800_000_000
TOMORROW = NOW + 86_400


def at_now(key: str | None, secrets) -> AdminAuth:
    return AdminAuth(key, secrets, clock=lambda: NOW)


def outcome(auth: AdminAuth, access: Access, key: bytes | None = None, token=None, email=None) -> int:
    try:
        auth.authorize(access, key, token, email)
    except GatewayError as error:
        return error.status
    return 200


def test_the_token_is_its_expiry_and_the_hex_hmac_sha256_of_the_expiry_and_the_normalised_email():
    signature = hmac.new(SECRET, f"status:{TOMORROW}:anna+news@example.com".encode(), hashlib.sha256)
    assert email_token(SECRET, "  Anna+News@Example.COM ", TOMORROW) == f"{TOMORROW}.{signature.hexdigest()}"


def test_a_token_works_until_its_expiry_and_not_after():
    token = email_token(SECRET, "anna@example.com", TOMORROW)
    route = Access.ADMIN_OR_EMAIL_TOKEN
    for now, status in ((NOW, 200), (TOMORROW - 1, 200), (TOMORROW, 403), (TOMORROW + 3600, 403)):
        auth = AdminAuth(KEY, SECRET, clock=lambda now=now: now)
        assert outcome(auth, route, token=token, email="anna@example.com") == status


def test_an_expiry_cannot_be_moved_without_the_secret():
    token = email_token(SECRET, "anna@example.com", NOW - 1)
    signature = token.partition(".")[2]
    route = Access.ADMIN_OR_EMAIL_TOKEN
    for forged in (f"{TOMORROW}.{signature}", signature, f".{signature}", f"-{TOMORROW}.{signature}"):
        assert outcome(at_now(KEY, SECRET), route, token=forged, email="anna@example.com") == 403


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
    auth = at_now(KEY, SECRET)
    own = email_token(SECRET, "anna@example.com", TOMORROW)
    route = Access.ADMIN_OR_EMAIL_TOKEN
    assert outcome(auth, route, token=own, email="Anna@Example.com") == 200
    assert outcome(auth, route, token=own, email="ola@example.com") == 403
    assert outcome(auth, route, token=own.upper(), email="anna@example.com") == 403
    assert outcome(auth, route, token="ż", email="anna@example.com") == 403
    assert outcome(auth, route, token=own, email="not an email") == 403
    assert outcome(auth, route) == 401
    assert outcome(auth, route, key=KEY.encode(), email="ola@example.com") == 200
    assert outcome(at_now(KEY, None), route, token=own, email="anna@example.com") == 403


def test_status_tokens_verify_under_every_secret_of_a_rotated_list():
    new = b"new-unsubscribe-secret-01"
    auth = at_now(KEY, (new, SECRET))
    route = Access.ADMIN_OR_EMAIL_TOKEN
    for secret in (SECRET, new):
        assert outcome(auth, route, token=email_token(secret, "a@b.pl", TOMORROW), email="a@b.pl") == 200
    old = email_token(SECRET, "a@b.pl", TOMORROW)
    assert outcome(at_now(KEY, (new,)), route, token=old, email="a@b.pl") == 403


def test_the_status_token_command_prints_a_token_the_gateway_accepts_for_that_many_days(monkeypatch, capsys):
    monkeypatch.setenv("UNSUBSCRIBE_SECRET", f"{SECRET.decode()},older-secret-0123456")
    assert status_token.main(["Anna@Example.com", "--days", "3"]) == 0
    token = capsys.readouterr().out.strip()
    expiry = int(token.partition(".")[0])
    assert abs(expiry - (time.time() + 3 * 86_400)) < 60
    route = Access.ADMIN_OR_EMAIL_TOKEN
    assert outcome(AdminAuth(KEY, SECRET), route, token=token, email="anna@example.com") == 200
    after = AdminAuth(KEY, SECRET, clock=lambda: expiry)
    assert outcome(after, route, token=token, email="anna@example.com") == 403


def test_the_status_token_command_names_what_is_wrong(monkeypatch, capsys):
    monkeypatch.delenv("UNSUBSCRIBE_SECRET", raising=False)
    assert status_token.main(["anna@example.com"]) == 2
    assert "UNSUBSCRIBE_SECRET is not set" in capsys.readouterr().err
    monkeypatch.setenv("UNSUBSCRIBE_SECRET", SECRET.decode())
    assert status_token.main(["not an email"]) == 2
    assert capsys.readouterr().err.startswith("email: is not a valid email address")
    with pytest.raises(SystemExit):
        status_token.main(["anna@example.com", "--days", "400"])
