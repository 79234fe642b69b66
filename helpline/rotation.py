"""The data keys over the stored values: rotation (re-seal everything under the newest key)
and the check after a restore (does every sealed value open, does the hash key match)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, Text, select, type_coerce, update
from sqlalchemy.orm import Session

from helpline import audit, crypto
from helpline.db import Base
from helpline.models import Call


@dataclass
class RotationReport:
    resealed: int = 0
    already_current: int = 0


def encrypted_columns() -> list[tuple[Table, str, str]]:
    """(table, column name, purpose) for every encrypted column of every model."""
    found: list[tuple[Table, str, str]] = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, crypto.EncryptedText):
                found.append((table, column.name, column.type.purpose))
    return found


def _sealed(session: Session, batch: int) -> Iterator[tuple[Table, str, str, Any, str]]:
    """(table, column name, purpose, primary key, stored text) of every sealed value, read in
    batches by primary key so that a large table never sits in memory."""
    for table, name, purpose in encrypted_columns():
        column = table.c[name]
        pk = next(iter(table.primary_key.columns))
        raw = type_coerce(column, Text)
        last = None
        while True:
            query = select(pk, raw).where(column.is_not(None)).order_by(pk).limit(batch)
            if last is not None:
                query = query.where(pk > last)
            rows = session.execute(query).all()
            if not rows:
                break
            for key, stored in rows:
                last = key
                yield table, name, purpose, key, stored


def rotate_keys(session: Session, batch: int = 500) -> RotationReport:
    """Re-encrypt with the newest key every value sealed under an older one.

    Runs in the caller's transaction: either every value moves or none does. Values whose key
    is missing raise :class:`crypto.DecryptionError` and nothing is changed.
    """
    keyring = crypto.active()
    report = RotationReport()
    for table, name, purpose, key, stored in _sealed(session, batch):
        if crypto.key_version(stored) == keyring.current_version:
            report.already_current += 1
            continue
        fresh = keyring.encrypt(keyring.decrypt(stored, purpose), purpose)
        pk = next(iter(table.primary_key.columns))
        session.execute(update(table).where(pk == key).values({name: type_coerce(fresh, Text)}))
        report.resealed += 1
    audit.record(session, "keys.rotate", actor="cli",
                 detail={"resealed": report.resealed, "key_version": keyring.current_version})
    return report


@dataclass
class KeyCheck:
    """What the configured keys make of the stored values."""

    opened: Counter[int] = field(default_factory=Counter)  # by key version
    missing_version: Counter[int] = field(default_factory=Counter)
    wrong_key: Counter[int] = field(default_factory=Counter)
    hashes_checked: int = 0
    hashes_differing: int = 0

    @property
    def ok(self) -> bool:
        return not (self.missing_version or self.wrong_key or self.hashes_differing)

    def problems(self) -> list[str]:
        said = [f"{n} values are sealed with key version {v}, which HELPLINE_DATA_KEYS does "
                "not hold" for v, n in sorted(self.missing_version.items())]
        said += [f"{n} values sealed with key version {v} do not open with the configured key "
                 "of that version (a different key under the same number)"
                 for v, n in sorted(self.wrong_key.items())]
        if self.hashes_differing:
            said.append(f"{self.hashes_differing} of {self.hashes_checked} calls have a caller "
                        "hash that HELPLINE_HASH_KEY does not give for their number: repeat "
                        "callers would not be recognized")
        return said


# A sample is enough to tell whether the hash key is the one the stored hashes were made with.
HASH_SAMPLE = 200


def check_keys(session: Session, batch: int = 500) -> KeyCheck:
    """Open every sealed value with the configured data keys, and recompute the caller hash of
    recent calls with the configured hash key; nothing is changed or shown. For the restore
    drill and after a deployment's keys were moved: a database is only as good as its keys."""
    keyring = crypto.active()
    check = KeyCheck()
    for _table, _name, purpose, _key, stored in _sealed(session, batch):
        try:
            version = crypto.key_version(stored)
            keyring.decrypt(stored, purpose)
        except crypto.DecryptionError:
            version = _version_or_zero(stored)
            if version in keyring.versions:
                check.wrong_key[version] += 1
            else:
                check.missing_version[version] += 1
            continue
        check.opened[version] += 1
    calls = Call.__table__
    rows = session.execute(
        select(type_coerce(calls.c.caller_number, Text), calls.c.caller_hash)
        .where(calls.c.caller_number.is_not(None), calls.c.caller_hash.is_not(None))
        .order_by(calls.c.id.desc()).limit(HASH_SAMPLE)).all()
    for stored, stored_hash in rows:
        try:
            number = keyring.decrypt(stored, "calls.caller_number")
        except crypto.DecryptionError:
            continue  # counted above
        check.hashes_checked += 1
        if keyring.caller_hash(number) != stored_hash:
            check.hashes_differing += 1
    audit.record(session, "keys.check", actor="cli", detail={
        "opened": sum(check.opened.values()),
        "not_opened": sum(check.missing_version.values()) + sum(check.wrong_key.values()),
        "hashes_differing": check.hashes_differing})
    return check


def _version_or_zero(stored: str) -> int:
    try:
        return crypto.key_version(stored)
    except crypto.DecryptionError:
        return 0
