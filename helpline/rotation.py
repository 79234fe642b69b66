"""Key rotation: re-seal every encrypted value under the newest data key."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table, Text, select, type_coerce, update
from sqlalchemy.orm import Session

from helpline import audit, crypto
from helpline.db import Base


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


def rotate_keys(session: Session, batch: int = 500) -> RotationReport:
    """Re-encrypt with the newest key every value sealed under an older one.

    Runs in the caller's transaction: either every value moves or none does. Values whose key
    is missing raise :class:`crypto.DecryptionError` and nothing is changed.
    """
    keyring = crypto.active()
    report = RotationReport()
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
                if crypto.key_version(stored) == keyring.current_version:
                    report.already_current += 1
                    continue
                fresh = keyring.encrypt(keyring.decrypt(stored, purpose), purpose)
                session.execute(
                    update(table).where(pk == key).values({name: type_coerce(fresh, Text)})
                )
                report.resealed += 1
    audit.record(session, "keys.rotate", actor="cli",
                 detail={"resealed": report.resealed, "key_version": keyring.current_version})
    return report
