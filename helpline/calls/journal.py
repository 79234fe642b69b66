"""Writes from the webhooks: in the database, or in the spool, before the webhook answers.

A webhook's operations (its steps, a status callback, a booked callback) are durable before
the webhook answers: committed, or, when the database cannot take them in time, appended and
fsync'd to the local spool (:mod:`helpline.calls.spool`). If neither can take them,
:class:`NotStored` says so and the webhook promises nothing (ivr/).

Group commit: the webhooks of one process hand their operations to its writer for that
database, which commits whatever has queued while it was busy in one transaction (through one
:class:`records.Ledger`), and wakes each webhook when its own are in. A webhook waits at most
its time limit (``IVR_DB_WAIT_SECONDS`` in all, :func:`helpline.db.within`); past it, the
webhook spools its operations itself and answers.

Every operation carries an idempotency key, inserted into ``applied_operations`` in the
transaction that applies it: a Twilio retry, a load balancer's retry, an operation both spooled
by a webhook that gave up waiting and committed by the writer a moment later, or a replay
after a crash, is applied once.

The spool is replayed by this process (in the background, whenever a commit succeeds while
entries wait, and at start) and by the scheduler's job.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from helpline.calls import records, spool
from helpline.config import Settings
from helpline.consent.optouts import record_keyword
from helpline.db import (
    Database,
    DatabaseUnavailable,
    affected_rows,
    is_unreachable,
    time_left,
    utcnow,
    within,
)
from helpline.models import AppliedOperation

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
# Given the settings too (never spooled with them): a booked callback follows the helpline's.
SETTINGS_OPERATIONS = {"callback"}

# How long an explicit replay (the scheduler's, the CLI's) waits for one already running.
REPLAY_WAIT_SECONDS = 10.0
# The time limit on the database of one chunk of a replay.
REPLAY_CHUNK_SECONDS = 30.0

# Where an operation ended up.
DATABASE = "database"
SPOOL = "spool"


class NotStored(Exception):
    """Neither the database nor the spool took the operations: nothing may be promised."""


@dataclass
class Operation:
    """One write: what to apply (:data:`OPERATIONS`), its arguments and its idempotency key."""

    op: str
    kwargs: dict[str, Any]
    key: str = field(default_factory=lambda: uuid.uuid4().hex)

    def entry(self) -> dict[str, Any]:
        return {"op": self.op, "key": self.key, **self.kwargs}

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> Operation:
        entry = dict(entry)
        op = entry.pop("op")
        key = entry.pop("key", None) or uuid.uuid4().hex
        return cls(op, entry, key)


@dataclass(eq=False)
class _Pending:
    """An operation on its way: the writer's outcome, and whether its webhook gave up."""

    operation: Operation
    finished: threading.Event = field(default_factory=threading.Event)
    written: bool = False
    error: Exception | None = None
    abandoned: bool = False  # the webhook stopped waiting and spooled it itself

    @property
    def op(self) -> str:
        return self.operation.op


def _new_keys(session: Session, keys: list[str]) -> set[str]:
    """Insert these keys; return those that were not there yet (the operations to apply)."""
    if not keys:
        return set()
    conn = session.connection()
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    statement = (insert(AppliedOperation).on_conflict_do_nothing(index_elements=["key"])
                 .returning(AppliedOperation.key))
    return set(conn.execute(statement, [{"key": k, "applied_at": now} for k in keys]).scalars())


def _apply_all(session: Session, settings: Settings, batch: list[_Pending]) -> None:
    keys = list(dict.fromkeys(p.operation.key for p in batch))
    fresh = _new_keys(session, keys)
    todo: list[_Pending] = []
    for pending in batch:
        if pending.operation.key in fresh:
            fresh.discard(pending.operation.key)  # a second copy in this batch is a retry too
            todo.append(pending)
    ledger = records.Ledger(session)
    written = [p.operation for p in todo if p.op in LEDGER_OPERATIONS]
    ledger.load(op.kwargs["call_sid"] for op in written)
    # A call first seen in this group is created from its first operation's number and time.
    ledger.create({op.kwargs["call_sid"]: (op.kwargs.get("from_number"), op.kwargs.get("at"))
                   for op in reversed(written)})
    for pending in todo:
        operation = pending.operation
        if operation.op in LEDGER_OPERATIONS:
            OPERATIONS[operation.op](session, ledger=ledger, **operation.kwargs)
        else:
            # These go through the ORM: it must see the ledger's writes, and the ledger theirs.
            ledger.forget()
            extra = {"settings": settings} if operation.op in SETTINGS_OPERATIONS else {}
            OPERATIONS[operation.op](session, **operation.kwargs, **extra)
            session.flush()
    ledger.flush()


def _commit(db: Database, settings: Settings, batch: list[_Pending]) -> None:
    """Commit the batch in one transaction; mark each operation written or failed."""
    try:
        with db.session() as session:
            _apply_all(session, settings, batch)
    except Exception as exc:
        if len(batch) == 1 or is_unreachable(exc):
            for pending in batch:
                pending.error = exc
            return
        # One operation failed and the transaction with it: the others go in alone.
        for pending in batch:
            try:
                with db.session() as session:
                    _apply_all(session, settings, [pending])
                pending.written = True
            except Exception as one:
                pending.error = one
    else:
        for pending in batch:
            pending.written = True


def _store(settings: Settings, batch: list[_Pending], db: Database | None = None) -> None:
    """Spool what failed because the database is out of reach; hand a failure for another
    reason (a bug) to a person: kept in the spool's rejected file, and raised to its webhook."""
    outage = [p for p in batch if p.error is not None and is_unreachable(p.error)]
    bugs = [p for p in batch if p.error is not None and not is_unreachable(p.error)]
    for pending in bugs:
        log.error("IVR %s could not be written (%s); kept for a person in %s", pending.op,
                  type(pending.error).__name__, settings.spool_dir / spool.REJECTED,
                  exc_info=pending.error)
    try:
        if bugs:
            spool.reject(settings.spool_dir, [p.operation.entry() for p in bugs])
        if outage:
            spool.append_all(settings.spool_dir, [p.operation.entry() for p in outage])
    except spool.SpoolError as exc:
        log.error("IVR %s NOT STORED: the database is unreachable and %s",
                  ", ".join(p.op for p in outage) or "operation", exc)
        for pending in outage:
            pending.error = NotStored(str(exc))
        return
    for pending in outage:
        log.warning("database unreachable: IVR %s kept in the spool %s", pending.op,
                    settings.spool_dir)
        pending.error = None
    if outage and db is not None:
        # Replayed as soon as the database answers, whether or not more calls come.
        replay_in_background(db, settings)


class _Writer:
    """One database's IVR writes in this process: committed in order, in groups, by one thread,
    with the settings it was created with."""

    IDLE_SECONDS = 2.0  # the thread ends after this long with nothing to write

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._queued: list[_Pending] = []
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._running = False

    def submit(self, db: Database, batch: list[_Pending]) -> None:
        with self._lock:
            self._queued.extend(batch)
            if self._running:
                self._wake.notify()
            else:
                self._running = True
                # The thread, not the writer, holds the database: a writer left idle in the
                # registry below does not keep it alive.
                threading.Thread(target=self._run, args=(db,), name="ivr-journal",
                                 daemon=True).start()

    def abandon(self, batch: list[_Pending]) -> list[_Pending]:
        """The webhook stops waiting: return those of its operations not finished (it stores
        them itself); the writer will not spool them again."""
        with self._lock:
            left = [p for p in batch if not p.finished.is_set()]
            for pending in left:
                pending.abandoned = True
                if pending in self._queued:
                    self._queued.remove(pending)
            return left

    def _run(self, db: Database) -> None:
        while True:
            with self._lock:
                if not self._queued:
                    self._wake.wait(self.IDLE_SECONDS)
                if not self._queued:
                    self._running = False
                    return
                batch, self._queued = self._queued, []
            try:
                self.write(db, batch)
            except Exception as exc:  # pragma: no cover - the writer must outlive any bug
                log.exception("IVR writer failed on a batch of %d", len(batch))
                for pending in batch:
                    pending.error = pending.error or exc
            finally:
                with self._lock:
                    for pending in batch:
                        pending.finished.set()

    def write(self, db: Database, batch: list[_Pending]) -> None:
        with within(self.settings.ivr_db_wait_seconds):
            if db.breaker.is_open():
                for pending in batch:
                    pending.error = DatabaseUnavailable("breaker open")
            else:
                _commit(db, self.settings, batch)
        with self._lock:
            batch = [p for p in batch if not p.abandoned]
        _store(self.settings, batch, db)
        if any(p.written for p in batch) and spool.pending(self.settings.spool_dir):
            replay_in_background(db, self.settings)


_writers: weakref.WeakKeyDictionary[Database, _Writer] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def _writer(db: Database, settings: Settings) -> _Writer:
    """The database's writer, created with ``settings`` on first use (a process has one
    settings object per database: the app's)."""
    writer = _writers.get(db)
    if writer is None:
        with _writers_lock:
            writer = _writers.setdefault(db, _Writer(settings))
    return writer


def _forget_threads() -> None:
    # A forked child has none of its parent's threads: its writers start afresh.
    global _writers, _replaying
    _writers = weakref.WeakKeyDictionary()
    _replaying = weakref.WeakSet()


os.register_at_fork(after_in_child=_forget_threads)


def _outcome(batch: list[_Pending]) -> str:
    for pending in batch:
        if pending.error is not None:
            raise pending.error
    return DATABASE if all(p.written for p in batch) else SPOOL


def write_all(db: Database, settings: Settings, operations: Iterable[Operation]) -> str:
    """Store these operations, in order, before returning: :data:`DATABASE` when committed,
    :data:`SPOOL` when fsync'd to the spool. Raises :class:`NotStored` when neither could take
    them, and a bug in one (not an outage) as it is."""
    finished = threading.Event()  # one for the request: the writer finishes its ops together
    batch = [_Pending(operation, finished) for operation in operations]
    if not batch:
        return DATABASE
    for pending in batch:
        pending.operation.kwargs.setdefault("at", utcnow().isoformat())
    if db.in_session():
        # This thread may hold SQLite's writer, which the writer thread would wait for.
        _Writer(settings).write(db, batch)
        return _outcome(batch)
    left = time_left()
    if db.breaker.is_open() or (left is not None and left <= 0):
        for pending in batch:
            pending.error = DatabaseUnavailable("breaker open, or no time left")
        _store(settings, batch, db)
        return _outcome(batch)
    writer = _writer(db, settings)
    writer.submit(db, batch)
    # The writer gives up on the database after IVR_DB_WAIT_SECONDS; the spool's fsync after.
    wait = settings.ivr_db_wait_seconds + 1.0 if left is None else max(0.0, left)
    if not batch[-1].finished.wait(wait):
        late = writer.abandon(batch)
        if late:
            log.warning("database too slow: IVR %s spooled after %.1f s",
                        ", ".join(p.op for p in late), wait)
            # Copies: the writer may still finish the originals (their keys make that
            # harmless), and must not change what this webhook is told.
            mine = [_Pending(p.operation, error=DatabaseUnavailable("time limit passed"))
                    for p in late]
            _store(settings, mine, db)
            return _outcome([p for p in batch if p not in late] + mine)
    return _outcome(batch)


def write(db: Database, settings: Settings, op: str, *, key: str | None = None,
          **kwargs: Any) -> str:
    """Store one operation (see :func:`write_all`)."""
    operation = Operation(op, kwargs) if key is None else Operation(op, kwargs, key)
    return write_all(db, settings, [operation])


def replay_spool(db: Database, settings: Settings, limit: int = 5000,
                 wait: float = REPLAY_WAIT_SECONDS) -> int:
    """Write what the spool (``settings.spool_dir``) holds into the database; return how
    many operations went in. Each chunk is one transaction; its keys make a replay that
    crashed and runs again apply nothing twice.

    Safe to call from the scheduler at any time and from several processes: a replay already
    running is waited for ``wait`` seconds, then left to it.
    """
    def apply(entries: list[dict[str, Any]]) -> list[Exception | None]:
        finished = threading.Event()
        batch = [_Pending(Operation.from_entry(entry), finished) for entry in entries]
        # Nobody waits on a replay: a chunk gets time a webhook does not, which a loaded
        # machine may need; the limit still ends it on a database that hangs.
        with within(REPLAY_CHUNK_SECONDS):
            _commit(db, settings, batch)
        if any(p.error is not None and is_unreachable(p.error) for p in batch):
            raise spool.StillDown
        return [p.error for p in batch]

    written = spool.replay(settings.spool_dir, apply, limit=limit, wait=wait)
    if written:
        log.info("replayed %d spooled IVR operations", written)
    return written


_replaying: weakref.WeakSet[Database] = weakref.WeakSet()
_replaying_lock = threading.Lock()
REPLAY_RETRY_SECONDS = 2.0


def replay_in_background(db: Database, settings: Settings) -> bool:
    """Replay the spool on a thread of its own until it is empty (one such thread per
    database in a process); False when one runs already or nothing is spooled."""
    if not spool.pending(settings.spool_dir):
        return False
    with _replaying_lock:
        if db in _replaying:
            return False
        _replaying.add(db)

    def run() -> None:
        stop = threading.Event()
        try:
            while spool.pending(settings.spool_dir):
                if db.breaker.is_open():
                    stop.wait(REPLAY_RETRY_SECONDS)
                    continue
                try:
                    if not replay_spool(db, settings, limit=1000, wait=0):
                        stop.wait(REPLAY_RETRY_SECONDS)
                except Exception:
                    log.exception("replaying the IVR spool failed; trying again")
                    stop.wait(REPLAY_RETRY_SECONDS)
        finally:
            with _replaying_lock:
                _replaying.discard(db)

    threading.Thread(target=run, name="ivr-spool-replay", daemon=True).start()
    return True


def purge_keys(db: Database, settings: Settings) -> int:
    """Forget the keys of operations applied more than ``IDEMPOTENCY_KEEP_DAYS`` ago."""
    cutoff = utcnow() - timedelta(days=settings.idempotency_keep_days)
    with db.session() as session:
        result = session.execute(delete(AppliedOperation)
                                 .where(AppliedOperation.applied_at < cutoff))
        return affected_rows(result)


def was_applied(session: Session, key: str) -> bool:
    """Has the operation with this key reached the database (for tests and inspection)?"""
    return session.scalar(select(AppliedOperation.key).where(AppliedOperation.key == key)) \
        is not None
