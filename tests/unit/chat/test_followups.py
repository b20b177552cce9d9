"""Follow-ups against memory: due or not, consent asked just before, recorded once, and what happens
when consent cannot be known yet."""

from __future__ import annotations

import pytest

from services.chat.application import followups as followups_module
from services.chat.application.conversations import VisitorMessage
from services.chat.application.followups import EMAIL_FOOTER, EMAIL_SUBJECT, ConsentPending, PassReport
from services.chat.application.outbox_calls import NOTIFY
from services.chat.domain.model import FollowupOutcome, Role
from services.runtime.errors import InvalidArgument, NotFound, Unavailable
from services.runtime.identity import CallerIdentity
from tests.unit.chat.fakes import DELAYS, Chat

EMAIL = "anna@example.com"


@pytest.fixture
def chat() -> Chat:
    return Chat()


def visitor(chat: Chat, session: str = "s-1", text: str = f"napiszcie na {EMAIL}", **fields) -> int:
    answer = chat.send(VisitorMessage(session, text, **fields), CallerIdentity())
    return answer.conversation_id


def followup_events(chat: Chat) -> dict[tuple[int, int], str]:
    return chat.uow.stored.followups


def test_a_followup_is_not_sent_before_the_visitor_has_been_quiet_long_enough(chat):
    conversation = visitor(chat)
    chat.clock.advance(DELAYS[0] - 1)
    assert chat.followups.send(conversation, 1) is FollowupOutcome.NOT_DUE
    assert followup_events(chat) == {}
    assert chat.consent.asked == []


def test_without_an_email_there_is_nobody_to_ask_and_nothing_is_recorded(chat):
    conversation = visitor(chat, text="Dzień dobry")
    chat.clock.advance(DELAYS[0])
    assert chat.followups.send(conversation, 1) is FollowupOutcome.SKIPPED_NO_CONSENT
    assert followup_events(chat) == {}


def test_without_processing_consent_the_followup_is_recorded_as_skipped_for_good(chat):
    conversation = visitor(chat)
    chat.clock.advance(DELAYS[0])
    assert chat.followups.send(conversation, 1) is FollowupOutcome.SKIPPED_NO_CONSENT
    assert followup_events(chat) == {(conversation, 1): "skipped_no_consent"}
    assert chat.followups.send(conversation, 1) is FollowupOutcome.ALREADY_SENT
    assert chat.uow.outbox_items() == []
    assert [m.role for m in chat.uow.messages(conversation)] == [Role.USER, Role.BOT]


def test_with_processing_consent_the_followup_is_a_chat_message_only(chat):
    conversation = visitor(chat)
    chat.consent.granted = {(EMAIL, "processing")}
    chat.clock.advance(DELAYS[0])

    assert chat.followups.send(conversation, 1) is FollowupOutcome.SENT
    last = chat.uow.messages(conversation)[-1]
    assert (last.role, last.text, last.followup_number) == (Role.FOLLOWUP, chat.rules.followup(1), 1)
    assert chat.uow.outbox_items() == []
    assert chat.consent.asked == [(EMAIL, "processing"), (EMAIL, "marketing")]
    assert chat.followups.send(conversation, 1) is FollowupOutcome.ALREADY_SENT
    assert len(chat.uow.messages(conversation)) == 3


def test_with_marketing_consent_the_followup_is_also_emailed_through_the_outbox(chat):
    conversation = visitor(chat)
    chat.consent.granted = {(EMAIL, "processing"), (EMAIL, "marketing")}
    chat.clock.advance(DELAYS[1])
    woken = chat.woken

    assert chat.followups.send(conversation, 2) is FollowupOutcome.SENT
    [item] = chat.uow.outbox_items()
    key = f"followup:{conversation}:2"
    assert (item.kind, item.key) == (NOTIFY, key)
    url = f"{chat.public_base_url}/api/unsubscribe/one-click/token-of-{EMAIL}"
    assert item.payload == {
        "idempotency_key": key,
        "email": {
            "to": EMAIL,
            "subject": EMAIL_SUBJECT,
            "body": chat.rules.followup(2) + EMAIL_FOOTER.format(url=url),
            "list_unsubscribe_url": url,
        },
    }
    assert chat.woken == woken + 1


def test_consent_still_in_the_outbox_defers_the_followup_until_it_is_handed_over(chat):
    conversation = visitor(chat, marketing_consent=True, rodo_consent=True)
    chat.consent.granted = {(EMAIL, "processing")}
    chat.clock.advance(DELAYS[0])

    with pytest.raises(ConsentPending):
        chat.followups.send(conversation, 1)
    assert followup_events(chat) == {}
    assert chat.consent.asked == []

    assert chat.relay.run_once().handed_over == 1
    assert chat.followups.send(conversation, 1) is FollowupOutcome.SENT


def test_a_consent_service_that_does_not_answer_records_nothing(chat):
    conversation = visitor(chat)
    chat.consent.down = True
    chat.clock.advance(DELAYS[0])
    with pytest.raises(Unavailable):
        chat.followups.send(conversation, 1)
    assert followup_events(chat) == {}


def test_a_followup_number_outside_the_configured_delays_or_an_unknown_conversation_is_refused(chat):
    conversation = visitor(chat)
    for number in (0, len(DELAYS) + 1):
        with pytest.raises(InvalidArgument) as refused:
            chat.followups.send(conversation, number)
        assert refused.value.field == "followup_number"
    with pytest.raises(NotFound):
        chat.followups.send(999, 1)


def test_a_pass_sends_everything_due_once(chat):
    quiet = [visitor(chat, f"s-{n}") for n in range(3)]
    chat.clock.advance(DELAYS[0])
    visitor(chat, "s-recent")
    chat.consent.granted = {(EMAIL, "processing")}

    due = chat.followups.due(10)
    assert [(d.conversation_id, d.number) for d in due] == [(c, 1) for c in quiet]
    assert chat.followups.run_due() == PassReport(sent=3)
    assert chat.followups.run_due() == PassReport()
    chat.clock.advance(DELAYS[1])
    assert chat.followups.run_due() == PassReport(
        sent=5
    )  # the second of the first three, the first of the last


def test_once_the_consent_service_fails_the_rest_of_the_pass_is_deferred_without_asking_again(
    chat, monkeypatch
):
    monkeypatch.setattr(followups_module, "DUE_BATCH", 2)
    for n in range(4):
        visitor(chat, f"s-{n}")
    chat.clock.advance(DELAYS[0])
    chat.consent.down = True

    assert chat.followups.run_due() == PassReport(deferred=4)
    assert len(chat.consent.batches) == 1  # the first batch's call failed: the second is not asked
    assert chat.consent.asked == []
    assert followup_events(chat) == {}
    chat.consent.down = False
    assert chat.followups.run_due() == PassReport(skipped_no_consent=4)


def test_a_pass_asks_consent_once_per_batch_and_records_sends_and_emails_by_each_answer(chat, monkeypatch):
    monkeypatch.setattr(followups_module, "DUE_BATCH", 3)
    emails = [f"osoba{n}@example.com" for n in range(5)]
    ids = [visitor(chat, f"s-{n}", f"napiszcie na {email}") for n, email in enumerate(emails)]
    chat.consent.granted = {(emails[0], "processing"), (emails[1], "processing"), (emails[1], "marketing")}
    chat.consent.granted |= {(emails[3], "processing")}
    chat.clock.advance(DELAYS[0])

    assert chat.followups.run_due() == PassReport(sent=3, skipped_no_consent=2)

    assert chat.consent.batches == [emails[:3], emails[3:]]
    assert chat.consent.asked == []  # no check one by one
    assert followup_events(chat) == {
        (ids[0], 1): "sent",
        (ids[1], 1): "sent",
        (ids[2], 1): "skipped_no_consent",
        (ids[3], 1): "sent",
        (ids[4], 1): "skipped_no_consent",
    }
    shown = {i: [m.followup_number for m in chat.uow.messages(i) if m.role is Role.FOLLOWUP] for i in ids}
    assert shown == {ids[0]: [1], ids[1]: [1], ids[2]: [], ids[3]: [1], ids[4]: []}
    [item] = chat.uow.outbox_items()
    url = f"{chat.public_base_url}/api/unsubscribe/one-click/token-of-{emails[1]}"
    assert item.key == f"followup:{ids[1]}:1"
    assert item.payload["email"] == {
        "to": emails[1],
        "subject": EMAIL_SUBJECT,
        "body": chat.rules.followup(1) + EMAIL_FOOTER.format(url=url),
        "list_unsubscribe_url": url,
    }
    assert chat.followups.run_due() == PassReport()
    assert len(chat.consent.batches) == 2


def test_a_conversation_whose_consent_is_still_in_the_outbox_waits_and_the_rest_of_its_batch_goes_on(chat):
    waiting = visitor(chat, "s-waiting", marketing_consent=True, rodo_consent=True)
    other = visitor(chat, "s-other", "napiszcie na ola@example.com")
    chat.consent.granted = {(EMAIL, "processing"), ("ola@example.com", "processing")}
    chat.clock.advance(DELAYS[0])

    assert chat.followups.run_due() == PassReport(sent=1, deferred=1)
    assert chat.consent.batches == [["ola@example.com"]]
    assert followup_events(chat) == {(other, 1): "sent"}

    assert chat.relay.run_once().handed_over == 1
    assert chat.followups.run_due() == PassReport(sent=1)
    assert followup_events(chat) == {(other, 1): "sent", (waiting, 1): "sent"}


def test_a_followup_sent_by_another_caller_while_the_pass_waited_for_consent_is_not_sent_twice(chat):
    first, second = visitor(chat, "s-1"), visitor(chat, "s-2", "napiszcie na ola@example.com")
    chat.consent.granted = {(EMAIL, "processing"), ("ola@example.com", "processing")}
    chat.clock.advance(DELAYS[0])
    chat.consent.during = lambda: chat.followups.send(first, 1)  # e.g. SendFollowup on another replica

    assert chat.followups.run_due() == PassReport(sent=1, already_sent=1)
    assert [m.followup_number for m in chat.uow.messages(first) if m.role is Role.FOLLOWUP] == [1]
    assert [m.followup_number for m in chat.uow.messages(second) if m.role is Role.FOLLOWUP] == [1]


def test_a_visitor_who_wrote_again_while_the_pass_waited_for_consent_gets_no_followup_yet(chat):
    conversation = visitor(chat)
    chat.consent.granted = {(EMAIL, "processing")}
    chat.clock.advance(DELAYS[0])
    chat.consent.during = lambda: visitor(chat, text="jeszcze jedno pytanie")

    chat.followups.run_due()
    assert followup_events(chat) == {}
    assert Role.FOLLOWUP not in [m.role for m in chat.uow.messages(conversation)]
    chat.consent.during = None
    chat.clock.advance(DELAYS[0])
    assert chat.followups.run_due() == PassReport(sent=1)


def test_a_pass_that_finds_its_batch_taken_by_another_replica_works_from_the_other_end(chat, monkeypatch):
    monkeypatch.setattr(followups_module, "DUE_BATCH", 2)
    emails = [f"osoba{n}@example.com" for n in range(6)]
    ids = [visitor(chat, f"s-{n}", f"napiszcie na {email}") for n, email in enumerate(emails)]
    chat.consent.granted = {(email, "processing") for email in emails}
    chat.clock.advance(DELAYS[0])

    def other_replica_takes_the_first_batch() -> None:
        chat.consent.during = None
        for conversation in ids[:2]:
            chat.followups.send(conversation, 1)

    chat.consent.during = other_replica_takes_the_first_batch
    assert chat.followups.run_due() == PassReport(sent=4, already_sent=2)
    assert chat.consent.batches == [emails[:2], [emails[5], emails[4]], [emails[3], emails[2]]]
    assert set(followup_events(chat)) == {(i, 1) for i in ids}
    assert chat.followups.run_due() == PassReport()


def test_the_consent_service_failing_after_the_turn_defers_exactly_what_is_left(chat, monkeypatch):
    monkeypatch.setattr(followups_module, "DUE_BATCH", 2)
    emails = [f"osoba{n}@example.com" for n in range(7)]
    ids = [visitor(chat, f"s-{n}", f"napiszcie na {email}") for n, email in enumerate(emails)]
    chat.consent.granted = {(email, "processing") for email in emails}
    chat.clock.advance(DELAYS[0])
    calls = []

    def first_batch_taken_then_consent_down() -> None:
        calls.append(1)
        if len(calls) == 1:
            for conversation in ids[:2]:
                chat.followups.send(conversation, 1)
        elif len(calls) == 3:
            chat.consent.down = True

    chat.consent.during = first_batch_taken_then_consent_down
    # ids 1-2 taken by the other replica, 7-6 sent from the top, then 5-4 fail: 5, 4 and 3 are deferred.
    assert chat.followups.run_due() == PassReport(sent=2, already_sent=2, deferred=3)
    assert set(followup_events(chat)) == {(i, 1) for i in (*ids[:2], *ids[5:])}
