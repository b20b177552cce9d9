"""The data-subject rights on consent's side (export, erasure) and the verification of the audit log's
hash chain (docs/privacy.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from services.consent.application.ports import AuditQuery, UnitOfWork
from services.consent.domain.chain import ChainVerifier, Verification
from services.consent.domain.model import MAX_REASON_LENGTH, AuditEntry, ConsentAction, Subject, check_length
from services.consent.domain.pseudonym import Pseudonymizer
from services.runtime.db import utcnow
from services.runtime.emails import normalise_email
from services.runtime.identity import CallerIdentity

VERIFY_BATCH = 5000
_EXPORT_PAGE = 500
_CATCH_UP_ROUNDS = 5
ERASE_SOURCE = "privacy"


@dataclass(frozen=True)
class ConsentExport:
    email: str
    subject: Subject | None
    suppressed: bool
    entries: list[AuditEntry]  # newest first


@dataclass(frozen=True)
class ConsentErasure:
    subjects_erased: int  # 0 or 1: the row holding the address
    audit_entries_kept: int  # pseudonymised, kept as proof (Art. 7(1), Art. 17(3)(e))


class ConsentPrivacy:
    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        pseudonymize: Pseudonymizer,
        clock: Callable[[], dt.datetime] = utcnow,
        verify_batch: int = VERIFY_BATCH,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._pseudonymize = pseudonymize
        self._clock = clock
        self._verify_batch = verify_batch

    def verify(self) -> Verification:
        """Streams the whole log in id order, `verify_batch` entries per read (memory stays bounded),
        then compares its end with the head. Entries appended meanwhile move the head: the check reads
        on until it has reached the head as it is then (a few rounds at most, however busy the log)."""
        verifier = ChainVerifier()
        after_id = 0
        for _ in range(_CATCH_UP_ROUNDS):
            while True:
                with self._unit_of_work() as uow:
                    batch = uow.audit_log.chain_batch(after_id, self._verify_batch)
                if not batch or not verifier.feed(batch):
                    break
                after_id = batch[-1].id
            with self._unit_of_work() as uow:
                head = uow.audit_log.head()
            if verifier.failure is not None or head is None or head.last_entry_id <= after_id:
                break
        return verifier.finish(head)

    def export(self, email: str) -> ConsentExport:
        normalised = normalise_email(email)
        pseudonym = self._pseudonymize(normalised)
        entries: list[AuditEntry] = []
        before_id = None
        with self._unit_of_work() as uow:
            subject = uow.subjects.get(normalised)
            suppressed = uow.subjects.is_suppressed(pseudonym)
            while True:
                page = uow.audit_log.query(AuditQuery(_EXPORT_PAGE, pseudonym=pseudonym, before_id=before_id))
                entries += page
                if len(page) < _EXPORT_PAGE:
                    break
                before_id = page[-1].id
        return ConsentExport(normalised, subject, suppressed, entries)

    def erase(self, email: str, reason: str, caller: CallerIdentity) -> ConsentErasure:
        """Deletes the row holding the address, records the suppression and an `erase` entry; the
        pseudonymised entries stay. Repeatable: a repeat deletes nothing and records another entry."""
        normalised = normalise_email(email)
        check_length("reason", reason, MAX_REASON_LENGTH)
        pseudonym = self._pseudonymize(normalised)
        with self._unit_of_work() as uow:
            now = self._clock()
            erased = uow.subjects.delete(normalised)
            uow.subjects.suppress(pseudonym, now)
            kept = uow.audit_log.count_for(pseudonym)
            uow.audit_log.append(
                pseudonym,
                AuditEntry(
                    action=ConsentAction.ERASE,
                    occurred_at=now,
                    marketing_consent=False,
                    rodo_consent=False,
                    ip_address=caller.ip_address[:64],
                    user_agent=caller.user_agent[:512],
                    reason=reason,
                    source=ERASE_SOURCE,
                    request_id=caller.request_id[:128],
                ),
            )
            uow.commit()
        return ConsentErasure(int(erased), kept)
