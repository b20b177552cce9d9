"""Properties of email normalisation (services/runtime/emails.py), which every service applies before it
stores or compares an address: valid addresses are accepted whatever their case and surrounding
whitespace, the result is a fixed point, and anything else is refused naming the field."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.runtime.emails import normalise_email
from services.runtime.errors import InvalidArgument

PROPERTY = settings(max_examples=100, derandomize=True, deadline=None)
# email-validator refuses more than 64 characters before the @ and 254 in all (RFC 5321).
ADDRESSES = st.emails().filter(lambda address: len(address) <= 254 and len(address.split("@")[0]) <= 64)
WHITESPACE = st.text(" \t\r\n", max_size=3)
# Arbitrary text rarely comes near an address; text from an address's alphabet and real addresses do.
ANY_TEXT = st.one_of(st.text(max_size=80), st.text('aZ9@.-_+ \t"\\()<>[]', max_size=40), ADDRESSES)


def refusal(raw: str, field: str) -> InvalidArgument | None:
    """The InvalidArgument normalise_email raises, or None if it accepts; anything else fails."""
    try:
        normalise_email(raw, field)
    except InvalidArgument as error:
        return error
    return None


@PROPERTY
@given(ADDRESSES, WHITESPACE, WHITESPACE)
def test_a_valid_address_is_accepted_trimmed_and_lower_cased(address, before, after):
    normalised = normalise_email(before + address + after)
    # The local part is only lower-cased; an IDNA domain (xn--...) comes back in Unicode.
    assert normalised.rpartition("@")[0] == address.rpartition("@")[0].lower()
    assert normalised == normalised.lower()
    assert normalise_email(normalised) == normalised


@PROPERTY
@given(ADDRESSES, st.data())
def test_case_makes_no_difference_in_the_domain_or_anywhere(address, data):
    local, _, domain = address.rpartition("@")
    flipped = "".join(data.draw(st.sampled_from([c.lower(), c.upper()])) for c in domain)
    assert normalise_email(f"{local}@{flipped}") == normalise_email(address)
    assert normalise_email(address.upper()) == normalise_email(address)


@PROPERTY
@given(ANY_TEXT, st.sampled_from(["email", "to", "filter.email"]))
def test_any_text_is_a_normalised_address_or_a_refusal_naming_the_field(raw, field):
    error = refusal(raw, field)
    if error is None:
        normalised = normalise_email(raw, field)
        assert normalised == normalised.strip().lower()
        assert "@" in normalised
        assert normalise_email(normalised, field) == normalised
    else:
        assert error.field == field
        assert error.description


# None of them is whitespace, which trimming would take away again at either end of the address.
@PROPERTY
@given(ADDRESSES, st.sampled_from(["@", "..", "\x00", "<", ",", '"', "("]), st.data())
def test_an_address_broken_by_one_bad_character_is_refused_naming_the_field(address, bad, data):
    local, _, domain = address.rpartition("@")
    position = data.draw(st.integers(0, len(local)))
    broken = f"{local[:position]}{bad}{local[position:]}@{domain}"
    error = refusal(broken, "email")
    assert error is not None, broken
    assert error.field == "email"
