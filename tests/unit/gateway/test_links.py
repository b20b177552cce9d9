"""The signed-link pages: language from Accept-Language, the two form encodings mail providers use."""

from __future__ import annotations

import pytest

from services.gateway.application.errors import GatewayError
from services.gateway.application.links import check_one_click, form_fields, language


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"", "pl"),
        (b"en-GB,en;q=0.9", "en"),
        (b"pl-PL,pl;q=0.9,en;q=0.8", "pl"),
        (b"de-DE,en;q=0.5", "en"),
        (b"fr", "pl"),
        (b"en;q=0.3,pl;q=0.7", "pl"),
    ],
)
def test_language_follows_accept_language(header, expected):
    assert language({"accept-language": header} if header else {}) == expected


def test_both_form_encodings_carry_the_one_click_field():
    urlencoded = form_fields(b"application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click")
    boundary = b"XyZ"
    multipart = form_fields(
        b"multipart/form-data; boundary=XyZ",
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
        b"One-Click\r\n--" + boundary + b"--\r\n",
    )
    for fields in (urlencoded, multipart):
        check_one_click(fields)


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        (b"application/json", b'{"List-Unsubscribe": "One-Click"}', 415),
        (b"application/x-www-form-urlencoded", b"List-Unsubscribe=Yes", 400),
        (b"application/x-www-form-urlencoded", b"", 400),
        (b"multipart/form-data; boundary=none", b"garbage", 400),
    ],
)
def test_anything_else_is_refused(content_type, body, status):
    with pytest.raises(GatewayError) as refused:
        check_one_click(form_fields(content_type, body))
    assert refused.value.status == status
