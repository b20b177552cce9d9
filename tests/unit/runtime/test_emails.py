import pytest

from services.runtime.emails import normalise_email
from services.runtime.errors import InvalidArgument


def test_emails_are_trimmed_and_lower_cased():
    assert normalise_email("  Jan.Kowalski@Example.PL \n") == "jan.kowalski@example.pl"


@pytest.mark.parametrize(
    "raw", ["", "   ", "no-at-sign", "a@", "@example.com", "a b@example.com", "a@b@c.pl"]
)
def test_malformed_emails_name_the_field(raw):
    with pytest.raises(InvalidArgument) as caught:
        normalise_email(raw, field="email")
    assert caught.value.field == "email"


def test_an_over_long_email_is_refused():
    with pytest.raises(InvalidArgument):
        normalise_email("a" * 60 + "@" + "b" * 190 + ".pl")
