import datetime as dt

import pytest

from services.chat.domain.followups import is_due
from services.chat.domain.lead import Lead
from services.chat.domain.leads import LeadSignals, extract_signals
from services.chat.domain.model import message_text, session_id
from services.chat.domain.responder import RuleResponder
from services.runtime.errors import InvalidArgument


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mój mail: Anna.K@Example.com", LeadSignals(email="anna.k@example.com")),
        ("zadzwoń: +48 601 234 567", LeadSignals(phone="+48601234567")),
        ("tel 601-234-567", LeadSignals(phone="+48601234567")),
        ("budżet około 80 tys.", LeadSignals(budget=True)),
        ("mamy 150 000 zł", LeadSignals(budget=True)),
        ("our budget is 40000 EUR", LeadSignals(budget=True)),
        ("mieszkanie 65 m2", LeadSignals(area=True)),
        ("dom 120 metrów", LeadSignals(area=True)),
        ("chcemy zacząć w przyszłym miesiącu", LeadSignals(timeline=True)),
        ("start ASAP please", LeadSignals(timeline=True)),
        ("numer zamówienia 12345678901234", LeadSignals()),
        ("anna(at)example.com", LeadSignals()),
    ],
)
def test_signals_found_in_a_message(text, expected):
    assert extract_signals(text) == expected


def test_scores_follow_the_documented_points_and_cap():
    assert LeadSignals(email="a@b.pl").score == 25
    assert LeadSignals(email="a@b.pl", phone="+48601234567", budget=True).score == 70
    everything = LeadSignals(email="a@b.pl", phone="+48601234567", budget=True, area=True, timeline=True)
    assert everything.score == 100


def test_signals_accumulate_and_newer_contact_details_win():
    merged = LeadSignals(email="old@b.pl", budget=True).merged(LeadSignals(email="new@b.pl", area=True))
    assert merged == LeadSignals(email="new@b.pl", budget=True, area=True)


def test_a_lead_is_announced_once():
    lead = Lead(1, LeadSignals(email="a@b.pl", phone="+48601234567", budget=True))
    assert lead.should_announce(70)
    lead.alerted_at = dt.datetime.now(dt.UTC)
    assert not lead.should_announce(70)
    assert not Lead(1, LeadSignals(email="a@b.pl")).should_announce(70)


@pytest.fixture(scope="module")
def responder():
    return RuleResponder.from_file()


@pytest.mark.parametrize(
    ("message", "intent", "fragment"),
    [
        ("Dzień dobry!", "greeting", "Jestem asystentem"),
        ("CZEŚĆ", "greeting", "Jestem asystentem"),
        ("Hello there", "greeting", "I'm the NovaHouse assistant"),
        ("Ile kosztuje wykończenie?", "prices", "zł za m²"),
        ("How much does it cost per square meter?", "prices", "PLN per m²"),
        ("Jak długo trwa remont?", "timeline", "tygodni"),
        ("Czy działacie w Łodzi?", "service_area", "Działamy"),
        ("Do you work in Warsaw?", "service_area", "We work in"),
        ("Proszę o kontakt telefoniczny", "contact", "doradca"),
        ("qwerty", "fallback", "Zostaw proszę e-mail"),
        ("I would like something", "fallback", "Please leave your email"),
    ],
)
def test_intents_answer_in_the_visitors_language(responder, message, intent, fragment):
    reply = responder.answer(message)
    assert reply.intent == intent
    assert fragment in reply.text


def test_new_contact_details_are_acknowledged(responder):
    assert responder.answer("anna@example.com", new_contact_details=True).intent == "contact_received"


def test_follow_up_texts_come_from_the_data_file(responder):
    assert responder.followup(1) != responder.followup(2)
    assert responder.followup(9) == responder.followup(3)  # beyond the file: the last one


def test_follow_up_k_is_due_after_the_kth_delay():
    last = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
    delays = (1800.0, 86400.0)
    assert not is_due(1, last, delays, last + dt.timedelta(minutes=29))
    assert is_due(1, last, delays, last + dt.timedelta(minutes=30))
    assert not is_due(2, last, delays, last + dt.timedelta(hours=23))


@pytest.mark.parametrize("value", ["", "a b", "x" * 129, "ok/../x", "zażółć"])
def test_malformed_session_ids_are_refused(value):
    with pytest.raises(InvalidArgument):
        session_id(value)


def test_messages_are_trimmed_and_bounded():
    assert message_text("  hej  ") == "hej"
    with pytest.raises(InvalidArgument):
        message_text("x" * 4001)
