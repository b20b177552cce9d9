"""The hash chain's rules without a database: the encoding covers every field, and the verifier finds
each kind of tampering, whatever the batch boundaries."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from services.consent.domain.chain import (
    GENESIS_HASH,
    HASH_VERSION,
    ChainedEntry,
    ChainHead,
    ChainVerifier,
    entry_hash,
)

AT = dt.datetime(2026, 12, 2, 13, 0, 0, 123456, tzinfo=dt.UTC)


def chain(count: int) -> list[ChainedEntry]:
    entries, prev = [], GENESIS_HASH
    for n in range(1, count + 1):
        entry = ChainedEntry(
            id=n,
            subject_pseudonym=f"{n}" * 64,
            action="unsubscribe",
            occurred_at=AT + dt.timedelta(seconds=n),
            marketing_consent=False,
            rodo_consent=n % 2 == 0,
            ip_address="203.0.113.7",
            user_agent="curl/8",
            reason="",
            source="api",
            consent_text_version="2026-11",
            request_id=f"r{n}",
            idempotency_key=None,
            given_at=AT,
            hash_version=HASH_VERSION,
            prev_hash=prev,
            entry_hash=None,
        )
        entry = dataclasses.replace(entry, entry_hash=entry_hash(entry, prev))
        entries.append(entry)
        prev = entry.entry_hash
    return entries


def verify(entries: list[ChainedEntry], head: ChainHead | None, batch: int = 2):
    verifier = ChainVerifier()
    for start in range(0, len(entries), batch):
        if not verifier.feed(entries[start : start + batch]):
            break
    return verifier.finish(head)


def head_of(entries: list[ChainedEntry]) -> ChainHead:
    return ChainHead(entries[-1].id, entries[-1].entry_hash)


@pytest.mark.parametrize(
    "field",
    [
        f.name
        for f in dataclasses.fields(ChainedEntry)
        if f.name not in ("hash_version", "prev_hash", "entry_hash")
    ],
)
def test_every_stored_field_is_in_the_hash(field):
    entry = chain(1)[0]
    value = getattr(entry, field)
    changed = {
        bool: lambda v: not v,
        int: lambda v: v + 1,
        str: lambda v: v + "x",
        dt.datetime: lambda v: v + dt.timedelta(microseconds=1),
        type(None): lambda v: "key",
    }[type(value)](value)
    assert entry_hash(dataclasses.replace(entry, **{field: changed}), GENESIS_HASH) != entry.entry_hash


def test_the_hash_does_not_depend_on_the_drivers_types_or_time_zone():
    entry = chain(1)[0]
    as_sqlite_gives_it = dataclasses.replace(
        entry,
        marketing_consent=0,
        rodo_consent=0,
        occurred_at=entry.occurred_at.astimezone(dt.timezone(dt.timedelta(hours=1))),
    )
    assert entry_hash(as_sqlite_gives_it, GENESIS_HASH) == entry.entry_hash
    assert entry_hash(entry, "f" * 64) != entry.entry_hash


@pytest.mark.parametrize("batch", [1, 2, 5, 100])
def test_a_whole_chain_verifies_in_any_batch_size(batch):
    entries = chain(7)
    result = verify(entries, head_of(entries), batch)
    assert (result.ok, result.entries_checked, result.head_hash) == (True, 7, entries[-1].entry_hash)


def test_an_empty_log_with_its_initial_head_verifies():
    assert verify([], ChainHead(0, GENESIS_HASH)).ok
    assert verify([], None).ok


def test_each_kind_of_tampering_names_the_first_broken_entry():
    entries = chain(6)
    head = head_of(entries)
    modified = [*entries[:2], dataclasses.replace(entries[2], reason="changed"), *entries[3:]]
    assert (verify(modified, head).first_invalid_entry_id, verify(modified, head).entries_checked) == (3, 3)
    deleted = [*entries[:2], *entries[3:]]
    assert verify(deleted, head).first_invalid_entry_id == 4
    swapped = [
        entries[0],
        dataclasses.replace(entries[2], id=2),
        dataclasses.replace(entries[1], id=3),
        *entries[3:],
    ]
    assert verify(swapped, head).first_invalid_entry_id == 2
    truncated = verify(entries[:4], head)
    assert (truncated.ok, truncated.first_invalid_entry_id) == (False, 5)
    assert not verify(entries, None).ok  # the head row is gone
    unknown_version = [dataclasses.replace(entries[0], hash_version=None), *entries[1:]]
    assert verify(unknown_version, head).first_invalid_entry_id == 1
