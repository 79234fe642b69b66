"""Writes from the webhooks: to the database, or to the spool when it cannot be reached.

A webhook never waits on the database to answer a caller. What it records of the call (its
steps, the status callbacks: :func:`write_behind`) is handed to this process's writer for
that database and the answer goes back at once; the writer commits what has queued in order,
one transaction for the lot (a group commit), and appends to the local spool what the
database would not take. Operations that a later webhook reads back (a booked callback, a
message left) use :func:`write`, which waits for its turn in the same queue, so they are in
by the time it returns and nothing written before them is overtaken. The next successful
write (or the scheduler, through :func:`replay_spool`) puts spooled operations into the
database in order.

Why a writer of its own: when every webhook committed its own write, or waited for a shared
commit, the server spent more time handing the interpreter lock between threads woken by
the database than answering callers (bench/ivr.py). Within a group, steps and status
callbacks go through one :class:`records.Ledger`: the calls are read in one statement and
the group's events and call changes written in a few.

The writer is given the helpline's settings by the first write that needs it (the webhooks
pass the runtime's): the operations that book a follow-up follow them on the writer's thread,
and the spool is the one they name.

A process that is killed loses what its writer had not committed yet, a few milliseconds'
worth, as it would lose the webhooks it was answering; :func:`settle` waits for the writer,
and the writers are settled when the interpreter exits.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from helpline.calls import records, spool
from helpline.config import Settings
from helpline.consent.optouts import record_keyword
from helpline.db import Database, utcnow

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
    finished: threading.Event | None = None  # set once written or spooled, for a waiting caller
    raises: bool = False  # a bug in it (not an outage) goes back to the webhook that wrote it
    written: bool = False
    error: Exception | None = None

    def apply(self, session: Session, ledger: records.Ledger, settings: Settings) -> None:
        if self.op in LEDGER_OPERATIONS:
            OPERATIONS[self.op](session, ledger=ledger, **self.kwargs)
        else:
            # These go through the ORM: it must see the ledger's writes, and the ledger theirs.
            ledger.forget()
            extra = {"settings": settings} if self.op in SETTINGS_OPERATIONS else {}
            OPERATIONS[self.op](session, **self.kwargs, **extra)
            session.flush()


def _apply_all(session: Session, settings: Settings, batch: list[_Operation]) -> None:
    ledger = records.Ledger(session)
    written = [op for op in batch if op.op in LEDGER_OPERATIONS]
    ledger.load(op.kwargs["call_sid"] for op in written)
    # A call first seen in this group is created from its first operation's number and time.
    ledger.create({op.kwargs["call_sid"]: (op.kwargs.get("from_number"), op.kwargs.get("at"))
                   for op in reversed(written)})
    for operation in batch:
        operation.apply(session, ledger, settings)
    ledger.flush()


def _apply_alone(db: Database, settings: Settings, operation: _Operation) -> None:
    with db.session() as session:
        _apply_all(session, settings, [operation])


def _commit(db: Database, settings: Settings, batch: list[_Operation]) -> None:
    """Commit the batch in one transaction; mark each operation written or failed."""
    try:
        with db.session() as session:
            _apply_all(session, settings, batch)
    except Exception as exc:
        if len(batch) == 1 or is_unreachable(exc):
            for operation in batch:
                operation.error = exc
        else:
            # One operation failed and the transaction with it: the others go in alone.
            for operation in batch:
                try:
                    _apply_alone(db, settings, operation)
                    operation.written = True
                except Exception as one:
                    operation.error = one
    else:
        for operation in batch:
            operation.written = True


def _spool_failed(settings: Settings, batch: list[_Operation]) -> None:
    """Keep what did not go in: the spool is replayed when the database is back (and hands
    an operation that fails for another reason to a person)."""
    failed: list[dict[str, Any]] = []
    for operation in batch:
        exc = operation.error
        if exc is None:
            continue
        if is_unreachable(exc):
            log.warning("database unreachable: IVR %s kept in the spool", operation.op)
        elif not operation.raises or isinstance(exc, SQLAlchemyError):
            # A bug, not an outage: keep the operation for a person rather than lose it.
            log.error("IVR %s could not be written; kept in the spool", operation.op,
                      exc_info=exc)
        else:
            continue  # the waiting webhook raises it (and answers with the fallback)
        failed.append({"op": operation.op, **operation.kwargs})
        operation.error = None
    if failed:
        spool.append_all(settings.spool_dir, failed)


# A writer with this many operations queued makes webhooks wait for theirs: memory stays
# bounded when the database is slow, and the webhooks slow down with it.
MAX_QUEUED = 2000
# A writer waits this long for more operations before writing a group smaller than the target.
LINGER_SECONDS = 0.05
GROUP_TARGET = 64
# A writer's thread ends after this long with nothing to write (a new one starts on demand).
IDLE_SECONDS = 2.0


class _Writer:
    """One database's IVR writes in this process: committed in order, in groups, by one thread,
    with the settings it was created with."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._queued: list[_Operation] = []
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._running = False
        self._lingering = False

    def settle(self, db: Database, timeout: float | None) -> bool:
        """Wait until what is queued now is written or spooled; False after ``timeout``."""
        with self._lock:
            if not self._running:
                return True  # nothing queued: the thread ends only with an empty queue
        finished = threading.Event()
        self.submit_nowait(db, _Operation("", {}, finished))
        return finished.wait(timeout)

    def _awaited(self) -> bool:
        return any(operation.finished is not None for operation in self._queued)

    def submit(self, db: Database, operation: _Operation) -> None:
        """Queue the operation; wait for it if it asks to (or if too many are queued)."""
        self.submit_nowait(db, operation)
        if operation.finished is not None:
            operation.finished.wait()

    def submit_nowait(self, db: Database, operation: _Operation) -> None:
        with self._lock:
            self._queued.append(operation)
            if len(self._queued) > MAX_QUEUED and operation.finished is None:
                operation.finished = threading.Event()
            if self._running:
                if operation.finished is not None or not self._lingering:
                    self._wake.notify()
            else:
                self._running = True
                # The thread, not the writer, holds the database: a writer left idle in the
                # registry below does not keep it alive.
                threading.Thread(target=self._run, args=(db,), name="ivr-journal",
                                 daemon=True).start()

    def _run(self, db: Database) -> None:
        while True:
            with self._lock:
                if not self._queued:
                    self._wake.wait(IDLE_SECONDS)
                if not self._queued:
                    self._running = False
                    return
                if len(self._queued) < GROUP_TARGET and not self._awaited():
                    # Nobody waits for these: a moment more makes a bigger group, and a
                    # group's fixed cost (a transaction, the calls read) is most of a small
                    # one's. An operation that is waited for ends the wait.
                    self._lingering = True
                    self._wake.wait(LINGER_SECONDS)
                    self._lingering = False
                batch, self._queued = self._queued, []
            try:
                self._write(db, batch)
            except Exception:  # pragma: no cover - the writer must outlive any bug
                log.exception("IVR writer failed on a batch of %d", len(batch))
            finally:
                for operation in batch:
                    if operation.finished is not None:
                        operation.finished.set()

    def _write(self, db: Database, batch: list[_Operation]) -> None:
        work = [operation for operation in batch if operation.op]  # "" marks a settle
        if not work:
            return
        _commit(db, self.settings, work)
        _spool_failed(self.settings, work)
        if any(operation.written for operation in work) and spool.pending(
                self.settings.spool_dir):
            replay_spool(db, self.settings, limit=200)


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


def _forget_writers() -> None:
    # A forked child has none of its parent's threads: its writers start afresh.
    global _writers
    _writers = weakref.WeakKeyDictionary()


os.register_at_fork(after_in_child=_forget_writers)


def _write_now(db: Database, settings: Settings, operation: _Operation) -> bool:
    """Inside a session on this thread (which may hold SQLite's writer the writer thread would
    wait for): written here and now, in a transaction of its own."""
    try:
        _apply_alone(db, settings, operation)
        return True
    except Exception as exc:
        operation.error = exc
    _spool_failed(settings, [operation])
    if operation.error is not None:
        raise operation.error
    return False


def write(db: Database, settings: Settings, op: str, **kwargs: Any) -> bool:
    """Write one operation after everything queued before it; True when it reached the
    database, False when it was spooled (in ``settings.spool_dir``). A bug in it (not an
    outage) is raised."""
    kwargs.setdefault("at", utcnow().isoformat())
    operation = _Operation(op, kwargs, threading.Event(), raises=True)
    if db.in_session():
        return _write_now(db, settings, operation)
    _writer(db, settings).submit(db, operation)
    if operation.error is not None:
        raise operation.error
    return operation.written


def write_behind(db: Database, settings: Settings, op: str, **kwargs: Any) -> None:
    """Queue one operation for the writer and return at once (it is written, or spooled, in
    a few milliseconds; :func:`settle` waits for it)."""
    kwargs.setdefault("at", utcnow().isoformat())
    operation = _Operation(op, kwargs)
    if db.in_session():
        _write_now(db, settings, operation)
        return
    _writer(db, settings).submit(db, operation)


def settle(db: Database, timeout: float | None = None) -> bool:
    """Wait until everything queued for this database so far is written or spooled; False
    if ``timeout`` seconds passed first. Returns at once inside a session on this thread,
    which may hold SQLite's writer that the writer thread needs."""
    writer = _writers.get(db)
    if writer is None or db.in_session():
        return True
    return writer.settle(db, timeout)


@atexit.register
def settle_all(timeout: float = 10.0) -> None:
    """Settle every writer of this process (at exit, and when `helpline serve` stops), each
    for at most ``timeout`` seconds: a database that hangs must not keep a server up."""
    for db in list(_writers.keys()):
        if not settle(db, timeout):
            log.error("IVR writes still queued at exit after %.0f s; not waiting longer",
                      timeout)


def replay_spool(db: Database, settings: Settings, limit: int = 5000) -> int:
    """Write what the spool (``settings.spool_dir``) holds into the database; return how
    many operations went in.

    Safe to call from the scheduler at any time and from several processes.
    """
    def apply(entry: dict[str, Any]) -> None:
        entry = dict(entry)
        op = entry.pop("op")
        try:
            _apply_alone(db, settings, _Operation(op, entry))
        except SQLAlchemyError as exc:
            if is_unreachable(exc):
                raise spool.StillDown from exc
            raise

    written = spool.replay(settings.spool_dir, apply, limit=limit)
    if written:
        log.info("replayed %d spooled IVR operations", written)
    return written
