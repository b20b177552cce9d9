"""Follow-ups: idempotent, consent-checked messages to visitors who went quiet.

Follow-up k of a conversation exists at most once: its `followup_events` row, under
UNIQUE(conversation_id, followup_number), is inserted in the same transaction as the follow-up message
(and its email's outbox row), so however often, however concurrently and on however many replicas it
is asked for, one caller's insert wins and every other one answers ALREADY_SENT.

Consent is checked with the consent service just before that insert. Without PROCESSING consent the
follow-up is recorded as skipped and never sent; with (confirmed) MARKETING consent it is also emailed,
with the person's one-click unsubscribe link in the List-Unsubscribe header and in the text. If the
consent service cannot answer, or consent given in the conversation is still in the outbox on its way
there, nothing is recorded and the follow-up stays due.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.chat.application.conversations import CONSENT_KEY_PREFIX, NOTIFY, RECORD_CONSENT
from services.chat.application.metrics import FOLLOWUP_OUTCOMES, FOLLOWUPS
from services.chat.application.ports import ConsentChecker, DueFollowup, UnitOfWork
from services.chat.domain.followups import due_cutoff, is_due
from services.chat.domain.model import ChatMessage, FollowupOutcome, Role
from services.runtime.db import utcnow
from services.runtime.errors import InvalidArgument, NotFound, Unavailable
from services.runtime.identity import CallerIdentity
from services.runtime.signed_links import UNSUBSCRIBE_PATH, link_url

log = logging.getLogger(__name__)

DUE_BATCH = 200
EMAIL_SUBJECT = "NovaHouse: wykończenie Twojego wnętrza"
EMAIL_FOOTER = (
    "\n\n--\nNovaHouse. Otrzymujesz tę wiadomość, bo potwierdziłeś/aś zgodę na kontakt marketingowy. "
    "Aby zrezygnować jednym kliknięciem, otwórz: {url}"
)


class ConsentPending(Unavailable):
    """The conversation's consent is still on its way to the consent service: asking it now would
    find none and skip the follow-up for good."""


@dataclass
class PassReport:
    sent: int = 0
    already_sent: int = 0
    skipped_no_consent: int = 0
    deferred: int = 0


class FollowupService:
    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        consent: ConsentChecker,
        *,
        delays: Sequence[float],
        texts: Callable[[int], str],
        on_outbox_work: Callable[[], None],
        public_base_url: str = "http://127.0.0.1:8080",
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._consent = consent
        self._public_base_url = public_base_url
        self._delays = tuple(delays)
        self._texts = texts
        self._on_outbox_work = on_outbox_work
        self._clock = clock

    def send(
        self, conversation_id: int, number: int, caller: CallerIdentity | None = None
    ) -> FollowupOutcome:
        """Sends follow-up `number` if it is due and allowed; raises Unavailable if consent cannot be
        checked (then nothing is recorded)."""
        if not 1 <= number <= len(self._delays):
            raise InvalidArgument(
                "followup_number", f"must be from 1 to {len(self._delays)} (FOLLOWUP_DELAYS)"
            )
        caller = caller or CallerIdentity()
        with self._unit_of_work() as uow:
            conversation = uow.conversations.get(conversation_id)
            if conversation is None:
                raise NotFound(f"no conversation with id {conversation_id}")
            if uow.followups.exists(conversation_id, number):
                return FollowupOutcome.ALREADY_SENT
            consent_pending = uow.outbox.waiting_for_conversation(
                RECORD_CONSENT, CONSENT_KEY_PREFIX, conversation_id
            )
        if not is_due(number, conversation.last_user_message_at, self._delays, self._clock()):
            return FollowupOutcome.NOT_DUE
        if conversation.email is None:
            return FollowupOutcome.SKIPPED_NO_CONSENT  # nobody to ask for consent yet; not recorded
        if consent_pending:
            raise ConsentPending(
                f"conversation {conversation_id}: the consent given in it is not recorded yet; "
                "the follow-up waits for it"
            )

        if not self._consent.allows(conversation.email, "processing", caller):
            with self._unit_of_work() as uow:
                recorded = uow.followups.record(
                    conversation_id, number, FollowupOutcome.SKIPPED_NO_CONSENT, self._clock()
                )
                uow.commit()
            return FollowupOutcome.SKIPPED_NO_CONSENT if recorded else FollowupOutcome.ALREADY_SENT
        # The email copy needs confirmed marketing consent; its token makes the unsubscribe link.
        token = self._consent.marketing_token(conversation.email, caller)
        email_it = token is not None

        with self._unit_of_work() as uow:
            now = self._clock()
            if not uow.followups.record(conversation_id, number, FollowupOutcome.SENT, now):
                return FollowupOutcome.ALREADY_SENT
            text = self._texts(number)
            uow.conversations.add_message(conversation_id, ChatMessage(Role.FOLLOWUP, text, now, number))
            if token is not None:
                key = f"followup:{conversation_id}:{number}"
                url = link_url(self._public_base_url, UNSUBSCRIBE_PATH, token)
                email = {
                    "to": conversation.email,
                    "subject": EMAIL_SUBJECT,
                    "body": text + EMAIL_FOOTER.format(url=url),
                    "list_unsubscribe_url": url,
                }
                uow.outbox.add(NOTIFY, key, {"idempotency_key": key, "email": email}, caller, now)
            uow.commit()
        if email_it:
            self._on_outbox_work()
        return FollowupOutcome.SENT

    def due(self, limit: int) -> list[DueFollowup]:
        now = self._clock()
        found: list[DueFollowup] = []
        with self._unit_of_work() as uow:
            for number in range(1, len(self._delays) + 1):
                found.extend(uow.followups.due(number, due_cutoff(number, self._delays, now), 0, limit))
        return sorted(found, key=lambda d: (d.last_user_message_at, d.conversation_id, d.number))[:limit]

    def run_due(self) -> PassReport:
        """One pass over what is due when it starts. Once the consent service fails to answer, the rest
        is counted as deferred without asking it again in this pass."""
        report = PassReport()
        now = self._clock()
        unreachable = False
        for number in range(1, len(self._delays) + 1):
            cutoff = due_cutoff(number, self._delays, now)
            after_id = 0
            while True:
                with self._unit_of_work() as uow:
                    if unreachable:
                        report.deferred += uow.followups.count_due(number, cutoff, after_id)
                        break
                    batch = uow.followups.due(number, cutoff, after_id, DUE_BATCH)
                if not batch:
                    break
                for due in batch:
                    after_id = due.conversation_id
                    try:
                        outcome = self.send(due.conversation_id, number)
                    except ConsentPending as error:  # this conversation only: the rest go on
                        log.info("follow-up deferred: %s", error)
                        report.deferred += 1
                        continue
                    except Unavailable as error:
                        log.warning("follow-ups deferred: %s", error)
                        report.deferred += 1
                        unreachable = True
                        break
                    self._tally(report, outcome)
        for counted in FOLLOWUP_OUTCOMES:
            FOLLOWUPS.labels(counted).inc(getattr(report, counted))
        if report.sent or report.skipped_no_consent or report.deferred:
            log.info(
                "follow-up pass: %d sent, %d already sent, %d skipped without consent, %d deferred",
                report.sent,
                report.already_sent,
                report.skipped_no_consent,
                report.deferred,
            )
        return report

    @staticmethod
    def _tally(report: PassReport, outcome: FollowupOutcome) -> None:
        if outcome is FollowupOutcome.SENT:
            report.sent += 1
        elif outcome is FollowupOutcome.ALREADY_SENT:
            report.already_sent += 1
        elif outcome is FollowupOutcome.SKIPPED_NO_CONSENT:
            report.skipped_no_consent += 1
