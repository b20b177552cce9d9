import datetime as dt

import pytest

from services.consent.domain.model import ConsentAction, Purpose, Subject
from services.consent.domain.pseudonym import Pseudonymizer

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)


def test_recording_changes_only_the_flags_given():
    subject = Subject("a@b.pl", marketing_consent=True, rodo_consent=False)
    subject.record(marketing=None, rodo=True, given_at=NOW, at=NOW)
    assert (subject.marketing_consent, subject.rodo_consent) == (True, True)
    assert (subject.last_action, subject.last_action_at) == (ConsentAction.RECORD, NOW)


def test_unsubscribe_lasts_until_marketing_consent_is_given_again():
    subject = Subject("a@b.pl", marketing_consent=True, rodo_consent=True)
    subject.unsubscribe(NOW)
    assert (subject.marketing_consent, subject.rodo_consent, subject.unsubscribed) == (False, True, True)
    later = NOW + dt.timedelta(seconds=1)
    subject.record(marketing=False, rodo=None, given_at=later, at=later)
    assert subject.unsubscribed
    subject.record(marketing=True, rodo=None, given_at=later + dt.timedelta(seconds=1), at=later)
    assert not subject.unsubscribed


@pytest.mark.parametrize(
    ("marketing", "rodo", "affected"), [(True, True, 2), (True, False, 1), (False, False, 0)]
)
def test_revoke_counts_the_consents_it_changed(marketing, rodo, affected):
    subject = Subject("a@b.pl", marketing_consent=marketing, rodo_consent=rodo)
    assert subject.revoke(NOW) == affected
    assert not subject.allows(Purpose.MARKETING)
    assert not subject.allows(Purpose.PROCESSING)
    assert subject.revoke(NOW) == 0


def test_pseudonyms_are_keyed_and_stable():
    first, other = Pseudonymizer(b"k" * 32), Pseudonymizer(b"x" * 32)
    assert first("a@b.pl") == first("a@b.pl")
    assert first("a@b.pl") != other("a@b.pl")
    assert len(first("a@b.pl")) == 64
    with pytest.raises(ValueError):
        Pseudonymizer(b"short")
