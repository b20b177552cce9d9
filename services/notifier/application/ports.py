"""What the notifier's use cases need from the outside: sinks and storage."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, Self

from services.notifier.domain.model import Channel, Message, Notification, Status
from services.runtime.leases import Claim


class Sink(Protocol):
    def deliver(self, message: Message) -> None:
        """Delivers one message or raises RetryableFailure, PermanentFailure or RateLimited."""
        ...

    def close(self) -> None:
        """Closes the connections the sink keeps between deliveries."""
        ...


@dataclass
class Stats:
    counts: dict[tuple[Status, Channel], int] = field(default_factory=dict)
    oldest_pending_created_at: dt.datetime | None = None
    oldest_pending_by_channel: dict[Channel, dt.datetime] = field(default_factory=dict)


class NotificationRepository(Protocol):
    def add(self, key: str, message: Message, claim: Claim) -> int | None:
        """Stores a new pending notification claimed by `claim`; None if the key exists."""
        ...

    def id_for_key(self, key: str) -> int: ...

    def get(self, notification_id: int) -> Notification | None: ...

    def claim_due(
        self, due_at: dt.datetime, claim: Claim, limit: int, skip_channels: Sequence[Channel] = ()
    ) -> list[Notification]:
        """Claims pending, unleased entries due at `due_at`, oldest due first."""
        ...

    def renew_claims(self, notifications: Sequence[Notification], claim: Claim) -> list[int]:
        """Extends to `claim.lease_until` the lease of each entry whose claim is still the caller's (its
        `claim_token`), in one statement; answers the ids renewed (the others were taken over)."""
        ...

    def postpone_due(
        self, channel: Channel, due_at: dt.datetime, until: dt.datetime, now: dt.datetime
    ) -> int:
        """Moves every pending, unleased entry of `channel` due at `due_at` to `until` (no attempt used)."""
        ...

    def claim_ids(self, ids: Sequence[int], claim: Claim) -> list[Notification]: ...

    def save_outcome(self, notification: Notification, now: dt.datetime) -> bool:
        """Stores an attempt's result and ends the claim; False if the claim was lost meanwhile."""
        ...

    def unescalated_failures(self, limit: int) -> list[Notification]: ...

    def mark_escalated(self, ids: Sequence[int], now: dt.datetime) -> None: ...

    def redrive(self, ids: Sequence[int], now: dt.datetime) -> int:
        """FAILED entries (the given ones, or all) back to pending with no attempts used."""
        ...

    def purge(self, status: Status, finished_before: dt.datetime) -> int: ...

    def page(
        self, status: Status | None, channel: Channel | None, before_id: int | None, limit: int
    ) -> list[Notification]: ...

    def stats(self) -> Stats: ...


class PrivacyRepository(Protocol):
    """The notifications naming an address (docs/privacy.md)."""

    def export(self, address: str) -> list[dict]: ...

    def erase(self, address: str, now: dt.datetime) -> int: ...


class OutcomeLog(Protocol):
    """Where attempts' outcomes and lease renewals are recorded, each change committed as it is made.
    A retry pass holds one for its duration (the SQL one holds a connection, so a delivery's outcome
    costs one round trip)."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def save_outcome(self, notification: Notification, now: dt.datetime) -> bool:
        """As NotificationRepository.save_outcome, committed."""
        ...

    def renew_claims(self, notifications: Sequence[Notification], claim: Claim) -> list[int]:
        """As NotificationRepository.renew_claims, committed."""
        ...


class UnitOfWork(Protocol):
    @property
    def notifications(self) -> NotificationRepository: ...

    @property
    def privacy(self) -> PrivacyRepository: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def commit(self) -> None: ...
