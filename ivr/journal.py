"""Writes from the webhooks: to the database, or to the spool when it cannot be reached.

A webhook never waits on a broken database to answer a caller: it calls :func:`write`, which
commits at once or, if the database is unreachable, appends the same operation to the local
spool. The next successful write (or the scheduler, through :func:`replay_spool`) puts the
spooled operations into the database in order.

Webhooks that write at the same moment share one transaction (a group commit): the first to
arrive commits its own operation and those that queued behind it, and each returns only once
its operation is in. One writer at a time is all SQLite allows; taking turns one operation
each, the turn was mostly spent waiting for the interpreter lock, not in the database
(bench/ivr.py). Within a group, steps and status callbacks go through one
:class:`records.Ledger`: the calls are read in one statement and the group's events and call
changes written in a few, rather than three statements per webhook.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from helpline.db import Database, utcnow
from helpline.optouts import record_keyword
from ivr import records, spool

log = logging.getLogger(__name__)


def _sms_keyword(session: Session, number: str, keyword: str, at: str | None = None) -> None:
    record_keyword(session, number, keyword)


OPERATIONS: dict[str, Callable[..., Any]] = {
    "step": records.record_step,
    "steps": records.record_steps,
    "answered": records.record_answered,
    "status": records.record_status,
    "callback": records.record_callback,
    "voicemail": records.record_voicemail,
    "transcription": records.record_transcription,
    "sms_keyword": _sms_keyword,
}
# Written through a ledger, together with the rest of their group (records.Ledger).
LEDGER_OPERATIONS = {"step", "steps", "status"}


def is_unreachable(exc: BaseException) -> bool:
    """True for a database that is down or overloaded (worth spooling), not for a bug."""
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or type(exc.orig).__name__ in {
            "OperationalError", "InterfaceError"}
    return False


@dataclass(eq=False)
class _Operation:
    op: str
    kwargs: dict[str, Any]
    done: bool = False
    error: Exception | None = None

    def apply(self, session: Session, ledger: records.Ledger) -> None:
        if self.op in LEDGER_OPERATIONS:
            OPERATIONS[self.op](session, ledger=ledger, **self.kwargs)
        else:
            # These go through the ORM: it must see the ledger's writes, and the ledger theirs.
            ledger.forget()
            OPERATIONS[self.op](session, **self.kwargs)
            session.flush()


def _apply_all(session: Session, batch: list[_Operation]) -> None:
    ledger = records.Ledger(session)
    written = [op for op in batch if op.op in LEDGER_OPERATIONS]
    ledger.load(op.kwargs["call_sid"] for op in written)
    # A call first seen in this group is created from its first operation's number and time.
    ledger.create({op.kwargs["call_sid"]: (op.kwargs.get("from_number"), op.kwargs.get("at"))
                   for op in reversed(written)})
    for operation in batch:
        operation.apply(session, ledger)
    ledger.flush()


def _apply_alone(db: Database, operation: _Operation) -> None:
    with db.session() as session:
        _apply_all(session, [operation])


class _GroupCommit:
    """The operations of one database's concurrent webhooks, committed together."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._turn = threading.Lock()
        self._queued: list[_Operation] = []
        self._queue_lock = threading.Lock()

    def apply(self, operation: _Operation) -> None:
        """Return once the operation is committed; raise what it raised."""
        with self._queue_lock:
            self._queued.append(operation)
        with self._turn:
            if not operation.done:
                with self._queue_lock:
                    batch, self._queued = self._queued, []
                self._commit(batch)
        if operation.error is not None:
            raise operation.error

    def _commit(self, batch: list[_Operation]) -> None:
        try:
            with self.db.session() as session:
                _apply_all(session, batch)
        except Exception as exc:
            if len(batch) == 1 or is_unreachable(exc):
                for operation in batch:
                    operation.error = exc
            else:
                # One operation failed and the transaction with it: the others go in alone.
                for operation in batch:
                    try:
                        _apply_alone(self.db, operation)
                    except Exception as one:
                        operation.error = one
        finally:
            for operation in batch:
                operation.done = True


_group_commits: weakref.WeakKeyDictionary[Database, _GroupCommit] = weakref.WeakKeyDictionary()
_group_commits_lock = threading.Lock()


def _apply(db: Database, operation: _Operation) -> None:
    if db.in_session():
        # This thread holds the writer that the group's commit would wait for.
        _apply_alone(db, operation)
        return
    group = _group_commits.get(db)
    if group is None:
        with _group_commits_lock:
            group = _group_commits.setdefault(db, _GroupCommit(db))
    group.apply(operation)


def write(db: Database, spool_dir: Any, op: str, **kwargs: Any) -> bool:
    """Apply one operation now, or spool it; True when it reached the database."""
    kwargs.setdefault("at", utcnow().isoformat())
    try:
        _apply(db, _Operation(op, kwargs))
    except SQLAlchemyError as exc:
        if not is_unreachable(exc):
            # A bug, not an outage: keep the operation for a person rather than lose it.
            log.exception("IVR %s could not be written; kept in the spool", op)
        else:
            log.warning("database unreachable: IVR %s kept in the spool", op)
        spool.append(spool_dir, {"op": op, **kwargs})
        return False
    if spool.pending(spool_dir):
        replay_spool(db, spool_dir, limit=200)
    return True


def replay_spool(db: Database, spool_dir: Any, limit: int = 5000) -> int:
    """Write what the spool holds into the database; return how many operations went in.

    Safe to call from the scheduler at any time and from several processes.
    """
    def apply(entry: dict[str, Any]) -> None:
        entry = dict(entry)
        op = entry.pop("op")
        try:
            _apply_alone(db, _Operation(op, entry))
        except SQLAlchemyError as exc:
            if is_unreachable(exc):
                raise spool.StillDown from exc
            raise

    written = spool.replay(spool_dir, apply, limit=limit)
    if written:
        log.info("replayed %d spooled IVR operations", written)
    return written
