"""Properties of the ids and page tokens every service reads from callers (services/runtime/ids.py,
services/runtime/pagination.py): what a service issues it reads back, and any other text is refused
naming the field, never another exception."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from services.runtime.errors import InvalidArgument
from services.runtime.ids import MAX_ID, parse_id
from services.runtime.pagination import decode_page_token, encode_page_token

PROPERTY = settings(max_examples=200, derandomize=True, deadline=None)
IDS = st.integers(0, MAX_ID)
# Digits of every script, signs, spaces, underscores (int() accepts '1_000') and very long numbers.
ID_LIKE = st.one_of(
    st.text(st.characters(categories=["Nd", "No"]) | st.sampled_from("+-_ .e"), max_size=30),
    st.integers(-(2**80), 2**80).map(str),
    st.text(max_size=10),
)


def refused_field(read) -> str | None:
    try:
        read()
    except InvalidArgument as error:
        return error.field
    return None


@PROPERTY
@given(IDS)
def test_every_id_a_service_shows_is_read_back(number):
    assert parse_id(str(number), "id", "notification") == number
    assert decode_page_token(encode_page_token(number)) == number


@PROPERTY
@given(ID_LIKE)
def test_any_other_id_text_is_refused_naming_the_field(text):
    is_id = text.isascii() and text.isdigit() and int(text) <= MAX_ID
    assert refused_field(lambda: parse_id(text, "ids", "notification")) == (None if is_id else "ids")


@PROPERTY
@given(
    st.one_of(ID_LIKE.map(lambda text: base64.urlsafe_b64encode(f"before:{text}".encode()).decode()), ID_LIKE)
)
def test_any_page_token_is_an_id_or_refused_naming_the_field(token):
    field = refused_field(lambda: decode_page_token(token))
    if not token:
        assert (field, decode_page_token(token)) == (None, None)  # the first page
    elif field is None:
        assert 0 <= decode_page_token(token) <= MAX_ID
    else:
        assert field == "page_token"
