"""The hash chain over the consent audit log (docs/privacy.md).

Every entry stores the hash of the entry before it (`prev_hash`) and its own (`entry_hash`): SHA-256 over
a canonical, versioned encoding of every stored field of the entry, its id and its `prev_hash` included.
One chain runs over the whole log in id order, which is insertion order, and a head (the last entry's
id and hash) is stored apart from it. So a row changed, deleted, inserted or moved anywhere breaks a link,
and a tail cut off no longer reaches the head. The email is never part of an entry (entries name the
subject by its keyed pseudonym), so erasing a person leaves the chain whole.

Version 1 encodes the fields below as compact JSON with sorted keys, behind a label naming the version.
A field added to the log needs a new version: entries keep the version they were hashed with.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

HASH_VERSION = 1
GENESIS_HASH = "0" * 64  # the prev_hash of the first entry
_LABEL = b"novahouse.consent.audit-log.v1\n"


@dataclass(frozen=True)
class ChainedEntry:
    """An audit log row exactly as stored."""

    id: int
    subject_pseudonym: str
    action: str
    occurred_at: dt.datetime
    marketing_consent: bool
    rodo_consent: bool
    ip_address: str
    user_agent: str
    reason: str
    source: str
    consent_text_version: str
    request_id: str
    idempotency_key: str | None
    given_at: dt.datetime | None
    hash_version: int | None
    prev_hash: str | None
    entry_hash: str | None


def canonical_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(entry: ChainedEntry, prev_hash: str) -> str:
    """The hash an entry with this content gets after `prev_hash` (version 1)."""
    # Coerced to the types the encoding names, whatever the driver hands over (SQLite's 0/1 booleans).
    fields = {
        "id": int(entry.id),
        "subject_pseudonym": str(entry.subject_pseudonym),
        "action": str(entry.action),
        "occurred_at": canonical_time(entry.occurred_at),
        "marketing_consent": bool(entry.marketing_consent),
        "rodo_consent": bool(entry.rodo_consent),
        "ip_address": str(entry.ip_address),
        "user_agent": str(entry.user_agent),
        "reason": str(entry.reason),
        "source": str(entry.source),
        "consent_text_version": str(entry.consent_text_version),
        "request_id": str(entry.request_id),
        "idempotency_key": None if entry.idempotency_key is None else str(entry.idempotency_key),
        "given_at": None if entry.given_at is None else canonical_time(entry.given_at),
        "hash_version": HASH_VERSION,
        "prev_hash": prev_hash,
    }
    encoded = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(_LABEL + encoded.encode()).hexdigest()


@dataclass(frozen=True)
class ChainHead:
    last_entry_id: int
    head_hash: str


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries_checked: int
    head_hash: str  # the hash the log's last entry has (recomputed), or the genesis hash
    first_invalid_entry_id: int | None = None
    problem: str = ""


class ChainVerifier:
    """Checks entries fed in id order, one batch at a time (bounded memory), then the stored head."""

    def __init__(self) -> None:
        self._prev_hash = GENESIS_HASH
        self._last_id = 0
        self.checked = 0
        self.failure: tuple[int, str] | None = None

    def feed(self, entries: Iterable[ChainedEntry]) -> bool:
        """False once an entry is found broken (the rest need not be read)."""
        for entry in entries:
            if self.failure is not None:
                return False
            self.checked += 1
            problem = self._problem(entry)
            if problem:
                self.failure = (entry.id, problem)
                return False
            self._prev_hash = entry.entry_hash or ""
            self._last_id = entry.id
        return self.failure is None

    def _problem(self, entry: ChainedEntry) -> str:
        if entry.hash_version != HASH_VERSION or entry.entry_hash is None:
            return f"unknown hash version {entry.hash_version}"
        if entry.prev_hash != self._prev_hash:
            return "does not link to the entry before it (an entry was deleted, inserted or moved)"
        if entry.entry_hash != entry_hash(entry, self._prev_hash):
            return "its content does not match its hash (the entry was modified)"
        return ""

    def finish(self, head: ChainHead | None) -> Verification:
        if self.failure is not None:
            entry_id, problem = self.failure
            return Verification(False, self.checked, self._prev_hash, entry_id, problem)
        stored = head or ChainHead(0, GENESIS_HASH)
        if stored.last_entry_id != self._last_id or stored.head_hash != self._prev_hash:
            # The tail was cut off (or rows appended behind the service's back): name the entry after
            # the last one that is still whole.
            return Verification(
                False,
                self.checked,
                self._prev_hash,
                self._last_id + 1 if stored.last_entry_id > self._last_id else self._last_id,
                f"the log ends at entry {self._last_id}, the stored head at {stored.last_entry_id}"
                " with another hash",
            )
        return Verification(True, self.checked, self._prev_hash)
