"""The one way to record who read or changed what.

Events are appended, never edited: the ORM refuses updates and deletes of them, and the
database does too (triggers in the migration). Each event carries the hash of the one before,
so a removed or altered row shows in :func:`verify_chain`. A chain rewritten from an altered
row onwards, or cut short, shows against the signed checkpoints of its end that are kept
outside the database (:mod:`helpline.reporting.audit_integrity`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, event, inspect, select, text
from sqlalchemy.orm import QueryableAttribute, Session

from helpline.db import utcnow
from helpline.models import AuditEvent, User

log = logging.getLogger(__name__)

GENESIS = "0" * 64
_CHAIN_LOCK = 7_401_001  # PostgreSQL advisory lock id that serialises the chain


def _digest(prev_hash: str, ev: AuditEvent) -> str:
    payload = json.dumps(
        [prev_hash, ev.at.isoformat(), ev.actor_id, ev.actor, ev.action, ev.record_type,
         ev.record_id, ev.address, ev.detail],
        sort_keys=True, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    """One event of :func:`record_many`."""

    action: str
    record_type: str | None = None
    record_id: object = None
    address: str | None = None
    detail: dict[str, Any] | None = None


def record(
    session: Session,
    action: str,
    *,
    actor: User | str | None,
    record_type: str | None = None,
    record_id: object = None,
    address: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an audit event in the caller's transaction.

    ``detail`` must never hold a confidential value (a note, a number): name the field, not
    its content.
    """
    return record_many(session, [Entry(action, record_type, record_id, address, detail)],
                       actor=actor)[0]


def _lock_chain(session: Session) -> None:
    """Hold the chain's end until this transaction ends, so that no other append reads the
    same previous hash (two events on one link break the chain for good).

    PostgreSQL: a transaction-level advisory lock. SQLite: the database's write lock, taken
    before the read. The sqlite3 driver opens a transaction only at the first INSERT, so
    without this the read of the previous hash happens outside any transaction, and parallel
    appends read the same one while they wait for the lock in turn. A transaction the driver
    has already opened began with a write and so holds the lock already.
    """
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK})
    elif dialect == "sqlite":
        driver = connection.connection.driver_connection
        if driver is not None and not driver.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def record_many(session: Session, entries: Sequence[Entry], *,
                actor: User | str | None) -> list[AuditEvent]:
    """Append several events by one actor in the caller's transaction, in order: one lock,
    one read of the chain's end and one insert for all (the scheduler's batches)."""
    if not entries:
        return []
    _lock_chain(session)
    prev = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    at = utcnow().replace(microsecond=0)
    events = []
    for entry in entries:
        ev = AuditEvent(
            at=at,
            actor_id=actor.id if isinstance(actor, User) else None,
            actor=actor.username if isinstance(actor, User) else (actor or "system"),
            action=entry.action,
            record_type=entry.record_type,
            record_id=None if entry.record_id is None else str(entry.record_id),
            address=entry.address,
            detail=entry.detail or {},
            prev_hash=prev or GENESIS,
        )
        ev.hash = prev = _digest(ev.prev_hash, ev)
        events.append(ev)
        log.info("audit %s by %s on %s %s", ev.action, ev.actor, ev.record_type or "-",
                 ev.record_id or "-")
    session.add_all(events)
    session.flush()
    return events


def read_sealed(
    session: Session,
    viewer: User,
    column: QueryableAttribute[str | None],
    where: ColumnElement[bool],
    *,
    allowed: bool,
    action: str,
    record_type: str,
    record_id: object,
    address: str | None,
) -> str:
    """The plaintext of one sealed value for ``viewer``, the read audited as
    ``<action>.read``; a viewer not ``allowed`` is audited as ``<action>.refused`` and gets
    :class:`PermissionError`. An empty or missing value reads as "".

    ``column`` is loaded deferred on its model, so that only this read opens it.
    """
    values = read_sealed_values(session, viewer, column, where, allowed=allowed,
                                read_action=f"{action}.read",
                                refused_action=f"{action}.refused", record_type=record_type,
                                record_id=record_id, address=address)
    return next(iter(values.values()), "")


def read_sealed_values(
    session: Session,
    viewer: User,
    column: QueryableAttribute[str | None],
    where: ColumnElement[bool],
    *,
    allowed: bool,
    read_action: str,
    refused_action: str,
    record_type: str,
    record_id: object,
    address: str | None,
    detail: dict[str, Any] | None = None,
) -> dict[Any, str]:
    """The one door to sealed values: the non-empty plaintexts of ``column`` in the rows
    matching ``where``, by the rows' primary key, for ``viewer``; one audit event for the read
    (``read_action``), or for the refusal (``refused_action``, then :class:`PermissionError`)
    when the caller's access rule did not allow it. The event names the field's record, never
    the value.
    """
    if not allowed:
        record(session, refused_action, actor=viewer, record_type=record_type,
               record_id=record_id, address=address)
        raise PermissionError(f"not allowed to read {column.key}")
    key = inspect(column.class_).primary_key[0]
    values = {ident: value for ident, value in session.execute(select(key, column).where(where))
              if value}
    record(session, read_action, actor=viewer, record_type=record_type, record_id=record_id,
           address=address, detail=detail)
    return values


def chain_after(session: Session, event_id: int = 0) -> Iterator[AuditEvent]:
    """The events after ``event_id``, oldest first, streamed in batches."""
    query = select(AuditEvent).where(AuditEvent.id > event_id).order_by(AuditEvent.id)
    yield from session.scalars(query.execution_options(yield_per=1000))


def links(prev_hash: str, ev: AuditEvent) -> bool:
    """Whether ``ev`` follows the event whose hash is ``prev_hash``, and is as it was hashed."""
    return ev.prev_hash == prev_hash and _digest(prev_hash, ev) == ev.hash


def hash_of(session: Session, event_id: int) -> str | None:
    """The stored hash of one event, or None if there is no such event."""
    return session.scalar(select(AuditEvent.hash).where(AuditEvent.id == event_id))


def verify_chain(session: Session) -> int | None:
    """Return the id of the first event that breaks the chain, or None if it is whole."""
    prev = GENESIS
    for ev in chain_after(session):
        if not links(prev, ev):
            return ev.id
        prev = ev.hash
    return None


@event.listens_for(Session, "before_flush")
def _refuse_audit_edits(session: Session, _ctx: Any, _instances: Any) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEvent):
            raise PermissionError("the audit log is append-only")
