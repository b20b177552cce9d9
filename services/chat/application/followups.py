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

One follow-up (SendFollowup) asks CheckConsent; a scheduled pass works in batches of DUE_BATCH and asks
CheckConsentBatch once per batch, then records the whole batch in one statement whose unique index
decides, per follow-up, which caller sends it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.chat.application.metrics import FOLLOWUP_OUTCOMES, FOLLOWUPS
from services.chat.application.outbox_calls import CONSENT_KEY_PREFIX, RECORD_CONSENT, EmailNotice, NotifyCall
from services.chat.application.ports import ConsentChecker, DueFollowup, UnitOfWork
from services.chat.domain.followups import due_cutoff, is_due
from services.chat.domain.model import ChatMessage, FollowupOutcome, Role
from services.runtime.clock import utcnow
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
                email = self._email(conversation.email, text, token)
                uow.outbox.add(NotifyCall(f"followup:{conversation_id}:{number}", email), caller, now)
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
        """One pass over what is due when it starts, a batch of DUE_BATCH at a time: one query finds the
        batch and one which of it waits for consent still in the outbox (deferred), one consent call
        answers the rest, and one transaction records, shows and queues them (see _send_batch). Once
        the consent service fails to answer, the rest is counted as deferred without asking it again
        in this pass."""
        report = PassReport()
        now = self._clock()
        unreachable = False
        for number in range(1, len(self._delays) + 1):
            unreachable = self._work_off(number, due_cutoff(number, self._delays, now), report, unreachable)
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

    def _work_off(self, number: int, cutoff: dt.datetime, report: PassReport, unreachable: bool) -> bool:
        """Follow-up `number` wherever it is due, by ascending conversation id until a whole batch turns
        out to be recorded by another caller already (another replica's pass is working on the same
        ids); then from the highest id down, so two replicas meet in the middle instead of asking
        consent for the same batches. Answers whether the consent service failed to answer."""
        after_id, before_id, descending = 0, None, False  # ids > after_id and < before_id are left
        while True:
            with self._unit_of_work() as uow:
                if unreachable:
                    report.deferred += uow.followups.count_due(number, cutoff, after_id, before_id)
                    return True
                batch = uow.followups.due(
                    number, cutoff, after_id, DUE_BATCH, before_id=before_id, descending=descending
                )
                waiting = uow.outbox.waiting_for_conversations(
                    RECORD_CONSENT, CONSENT_KEY_PREFIX, [due.conversation_id for due in batch]
                )
            if not batch:
                return False
            ready = [due for due in batch if due.conversation_id not in waiting and due.email]
            if waiting:  # these conversations only: the rest go on
                log.info(
                    "follow-ups deferred: consent given in %d conversations is not recorded yet", len(waiting)
                )
                report.deferred += len(waiting)
            try:
                recorded = self._send_batch(number, cutoff, ready, report)
            except Unavailable as error:
                log.warning("follow-ups deferred: %s", error)
                report.deferred += len(ready)
                unreachable = True
                recorded = 0
            if descending:
                before_id = batch[-1].conversation_id
            else:
                after_id = batch[-1].conversation_id
                descending = bool(ready) and recorded == 0 and not unreachable

    def _send_batch(
        self, number: int, cutoff: dt.datetime, batch: list[DueFollowup], report: PassReport
    ) -> int:
        """Follow-up `number` for each of `batch`: one consent call for all, then one transaction that
        records each (sent, or skipped without processing consent) unless another caller did or the
        visitor wrote again since, adds the sent ones' messages and queues the emails of those with
        marketing consent. Answers how many it recorded; raises Unavailable (nothing recorded) if consent
        cannot be checked."""
        if not batch:
            return 0
        caller = CallerIdentity()
        answers = self._consent.check_batch([due.email or "" for due in batch], caller)
        outcomes = {
            due.conversation_id: (
                due.email or "",
                FollowupOutcome.SENT if answer.processing else FollowupOutcome.SKIPPED_NO_CONSENT,
            )
            for due, answer in zip(batch, answers, strict=True)
        }
        tokens = {
            due.conversation_id: answer.marketing_token for due, answer in zip(batch, answers, strict=True)
        }
        text = self._texts(number)
        with self._unit_of_work() as uow:
            now = self._clock()
            recorded = uow.followups.record_due(number, cutoff, outcomes, now)
            sent = sorted(i for i in recorded if outcomes[i][1] is FollowupOutcome.SENT)
            uow.conversations.add_messages([(i, ChatMessage(Role.FOLLOWUP, text, now, number)) for i in sent])
            emailed = [i for i in sent if tokens[i] is not None]
            for conversation_id in emailed:
                email = self._email(outcomes[conversation_id][0], text, tokens[conversation_id] or "")
                uow.outbox.add(NotifyCall(f"followup:{conversation_id}:{number}", email), caller, now)
            uow.commit()
        report.sent += len(sent)
        report.skipped_no_consent += len(recorded) - len(sent)
        report.already_sent += len(batch) - len(recorded)  # or no longer due: the visitor wrote again
        if emailed:
            self._on_outbox_work()
        return len(recorded)

    def _email(self, to: str, text: str, token: str) -> EmailNotice:
        url = link_url(self._public_base_url, UNSUBSCRIBE_PATH, token)
        return EmailNotice(to, EMAIL_SUBJECT, text + EMAIL_FOOTER.format(url=url), url)

    @staticmethod
    def _tally(report: PassReport, outcome: FollowupOutcome) -> None:
        if outcome is FollowupOutcome.SENT:
            report.sent += 1
        elif outcome is FollowupOutcome.ALREADY_SENT:
            report.already_sent += 1
        elif outcome is FollowupOutcome.SKIPPED_NO_CONSENT:
            report.skipped_no_consent += 1
