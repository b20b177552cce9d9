"""What the use cases need from storage; the SQL adapters and the test fakes both provide it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from services.consent.domain.chain import ChainedEntry, ChainHead
from services.consent.domain.model import AuditEntry, ConsentAction, PendingGrant, Subject


@dataclass(frozen=True)
class AuditQuery:
    """A filter over the audit log, newest first; `before_id` continues after a previous page."""

    limit: int
    pseudonym: str | None = None
    action: ConsentAction | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    before_id: int | None = None


class SubjectRepository(Protocol):
    def get(self, email: str) -> Subject | None: ...

    def lock(self, email: str, pseudonym: str, now: dt.datetime) -> Subject:
        """The subject, locked until the transaction ends; created with no consent if it is new."""
        ...

    def lock_by_pseudonym(self, pseudonym: str) -> Subject | None:
        """The subject a signed link names, locked until the transaction ends; None if erased."""
        ...

    def save(self, subject: Subject, now: dt.datetime) -> None: ...

    def delete(self, email: str) -> bool:
        """Deletes the subject's row (the only place its email is stored); False if there was none."""
        ...

    def suppress(self, pseudonym: str, now: dt.datetime) -> None:
        """Records that the pseudonym's address is never to be mailed (once; repeats do nothing)."""
        ...

    def is_suppressed(self, pseudonym: str) -> bool: ...

    def consents_of(
        self, emails: Sequence[str], pseudonyms: Sequence[str]
    ) -> tuple[dict[str, tuple[bool, bool]], set[str]]:
        """In one round trip: (marketing, processing) consent of each known email among `emails`, and
        which of `pseudonyms` are suppressed (CheckConsentBatch)."""
        ...


class PendingGrants(Protocol):
    def add(self, grant: PendingGrant) -> None:
        """Stores a pending grant; one with the same reference (a repeated request) is kept as it is."""
        ...

    def get(self, reference: str) -> PendingGrant | None: ...

    def confirm(self, reference: str, now: dt.datetime) -> None: ...


class ConfirmationMailer(Protocol):
    def send(self, to: str, subject: str, body: str, idempotency_key: str) -> None:
        """Hands the email to the notifier (which retries it from its DLQ while SMTP is down);
        raises Unavailable when the notifier cannot be reached."""
        ...


class AuditLog(Protocol):
    def append(self, pseudonym: str, entry: AuditEntry) -> None:
        """Appends the entry to the end of the hash chain (its id and hashes are given here)."""
        ...

    def head(self) -> ChainHead | None: ...

    def count_for(self, pseudonym: str) -> int: ...

    def chain_batch(self, after_id: int, limit: int) -> list[ChainedEntry]:
        """Up to `limit` entries after `after_id`, as stored, in id order."""
        ...

    def has_idempotency_key(self, key: str) -> bool:
        """Whether an entry was recorded with this key."""
        ...

    def query(self, query: AuditQuery) -> list[AuditEntry]: ...


class UnitOfWork(Protocol):
    @property
    def subjects(self) -> SubjectRepository: ...

    @property
    def audit_log(self) -> AuditLog: ...

    @property
    def pending_grants(self) -> PendingGrants: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def save_and_audit(self, subject: Subject, now: dt.datetime, pseudonym: str, entry: AuditEntry) -> None:
        """subjects.save(subject, now), then audit_log.append(pseudonym, entry): in fewer round trips
        where the storage can merge them."""
        ...

    def commit(self) -> None: ...
