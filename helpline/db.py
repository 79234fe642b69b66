"""Engine, sessions and the declarative base shared by every model; the time limits and the
breaker that keep a caller's webhook from waiting on a database that hangs.

A thread that answers a caller runs :func:`within` a time limit. Every connection it checks out
is watched: past the limit, a PostgreSQL connection's socket is shut down and a SQLite
statement interrupted, so the statement fails at once, whatever the server does (a server that
hangs keeps its connections and answers nothing: no client or server timeout sees that). A
failure that says the database is unreachable opens the database's breaker: for a while the
webhooks do not try it at all (:class:`DatabaseUnavailable`) and go to the spool. Staff pages
run without a limit of their own and are not turned away by the breaker.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    CursorResult,
    DateTime,
    Engine,
    MetaData,
    Result,
    create_engine,
    event,
    make_url,
)
from sqlalchemy.exc import DBAPIError, DisconnectionError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import QueuePool
from sqlalchemy.types import TypeDecorator

from helpline.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

log = logging.getLogger(__name__)

# The largest value an Integer column (every id) holds on every engine: PostgreSQL's INTEGER is
# 32 bits and refuses anything larger with an error, so input is bounded before a query.
INT_MAX = 2**31 - 1

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every database (SQLite keeps no zone of its own)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is needed")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)


METADATA = MetaData(naming_convention=NAMING)
TYPE_ANNOTATION_MAP = {dt.datetime: UTCDateTime()}

if TYPE_CHECKING:
    # As type checkers see the class that __getattr__ below declares.
    class Base(DeclarativeBase):
        metadata = METADATA
        type_annotation_map = TYPE_ANNOTATION_MAP

_BASE_LOCK = threading.Lock()


def _declarative_base() -> type[DeclarativeBase]:
    from sqlalchemy.orm import DeclarativeBase

    class Base(DeclarativeBase):
        metadata = METADATA
        type_annotation_map = TYPE_ANNOTATION_MAP

    Base.__qualname__ = "Base"
    return Base


def __getattr__(name: str) -> Any:
    # The declarative base (and with it sqlalchemy.orm, a quarter of a second to import) is
    # made when a model first asks for it: a command that runs Core statements alone, such as
    # `helpline directory search`, never does.
    if name == "Base":
        with _BASE_LOCK:
            if "Base" not in globals():
                globals()["Base"] = _declarative_base()
        return globals()["Base"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def affected_rows(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE run through ``Session.execute`` changed.

    ``Session.execute`` is typed to return a plain ``Result`` whatever the statement; for
    an UPDATE or DELETE it is a ``CursorResult``, the one that carries ``rowcount``.
    """
    return cast(CursorResult[Any], result).rowcount


@dataclass(frozen=True)
class Limits:
    """How long a database use may wait (settings DB_*_SECONDS and IVR_DB_WAIT_SECONDS)."""

    connect_seconds: int = 2  # opening a connection (PostgreSQL's connect_timeout)
    statement_seconds: int = 30  # any statement, server side (PostgreSQL's statement_timeout)
    pool_seconds: float = 2.0  # waiting for a free connection of the pool
    breaker_seconds: float = 10.0  # webhooks skip the database this long after a failure

    @classmethod
    def for_settings(cls, settings: Settings) -> Limits:
        return cls(connect_seconds=settings.db_connect_timeout_seconds,
                   statement_seconds=settings.db_statement_timeout_seconds,
                   pool_seconds=settings.db_pool_timeout_seconds,
                   breaker_seconds=settings.db_breaker_seconds)


class DatabaseUnavailable(SQLAlchemyError):
    """The database was not asked: its breaker is open, or the caller's time ran out."""


# SQLite reports an outage as an OperationalError with one of these; other OperationalErrors
# (no such table, a syntax error) are bugs, and must not send every webhook to the spool.
_SQLITE_OUTAGES = ("locked", "busy", "interrupted", "unable to open", "disk i/o",
                   "disk is full", "readonly")
# psycopg's OperationalError includes conflicts that a retry resolves: not an outage.
_NOT_OUTAGES = {"TransactionRollback", "SerializationFailure", "DeadlockDetected"}


def is_unreachable(exc: BaseException) -> bool:
    """True for a database that is down, hung or overloaded (worth spooling), not for a bug."""
    if isinstance(exc, DatabaseUnavailable | PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    names = {cls.__name__ for cls in type(exc.orig).__mro__}
    if not names & {"OperationalError", "InterfaceError"} or names & _NOT_OUTAGES:
        return False
    if type(exc.orig).__module__ == "sqlite3":
        message = str(exc.orig).lower()
        return any(word in message for word in _SQLITE_OUTAGES)
    return True


class Breaker:
    """Open for ``seconds`` after the database failed; then the next use tries it again."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._open_until = 0.0

    def is_open(self) -> bool:
        return time.monotonic() < self._open_until

    def trip(self, why: str) -> None:
        if not self.is_open():
            log.warning("database unreachable (%s): webhooks go to the spool for %.0f s",
                        why, self.seconds)
        self._open_until = time.monotonic() + self.seconds

    def close(self) -> None:
        self._open_until = 0.0


class _Deadline(threading.local):
    until: float | None = None
    # Whether this thread's outage sends the IVR to the spool: a background task (a routing
    # pass) that fails says nothing about whether a webhook's write would.
    trips_breaker: bool = True


_deadline = _Deadline()


@contextmanager
def within(seconds: float, *, trips_breaker: bool = True) -> Iterator[None]:
    """Every database use of this thread inside the block ends within ``seconds`` of its
    start (:class:`DatabaseUnavailable`, or the statement's own error once interrupted).
    With ``trips_breaker=False`` a failure inside does not open the breaker."""
    outer, outer_trips = _deadline.until, _deadline.trips_breaker
    until = time.monotonic() + seconds
    _deadline.until = until if outer is None else min(outer, until)
    _deadline.trips_breaker = outer_trips and trips_breaker
    try:
        yield
    finally:
        _deadline.until, _deadline.trips_breaker = outer, outer_trips


def time_left() -> float | None:
    """Seconds left of this thread's limit (None without one)."""
    if _deadline.until is None:
        return None
    return _deadline.until - time.monotonic()


class _Watchdog:
    """Stops the statements of connections held past their thread's limit."""

    POLL_SECONDS = 0.05
    IDLE_SECONDS = 5.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[float, Callable[[], None]]] = {}
        self._running = False

    def watch(self, token: int, until: float, stop: Callable[[], None]) -> None:
        with self._lock:
            self._watched[token] = (until, stop)
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="db-watchdog", daemon=True).start()

    def forget(self, token: int) -> None:
        with self._lock:
            self._watched.pop(token, None)

    def _run(self) -> None:
        idle_since = time.monotonic()
        while True:
            time.sleep(self.POLL_SECONDS)
            now = time.monotonic()
            with self._lock:
                if not self._watched:
                    if now - idle_since > self.IDLE_SECONDS:
                        self._running = False
                        return
                    continue
                idle_since = now
                overdue = [(token, stop) for token, (until, stop) in self._watched.items()
                           if until <= now]
                for token, _ in overdue:
                    del self._watched[token]
            for _, stop in overdue:
                try:
                    stop()
                except Exception:  # pragma: no cover - a connection already gone
                    log.debug("stopping an overdue statement failed", exc_info=True)


_watchdog = _Watchdog()


def _reset_after_fork() -> None:
    # A forked child has none of its parent's threads.
    global _watchdog
    _watchdog = _Watchdog()


os.register_at_fork(after_in_child=_reset_after_fork)


def _stopper(dbapi_conn: Any, breaker: Breaker | None) -> Callable[[], None]:
    """How to stop what ``dbapi_conn`` is waiting for, from another thread."""
    interrupt = getattr(dbapi_conn, "interrupt", None)
    if interrupt is not None:  # sqlite3
        def stop_sqlite() -> None:
            if breaker is not None:
                breaker.trip("a statement ran past its time limit")
            interrupt()
        return stop_sqlite

    def stop_socket() -> None:
        # psycopg waits on the socket for an answer that a hung server never sends: shutting
        # the socket down wakes it with an error, and the pool throws the connection away.
        if breaker is not None:
            breaker.trip("a statement ran past its time limit")
        fd = dbapi_conn.pgconn.socket
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    return stop_socket


def _bound_checkouts(engine: Engine, breaker: Breaker) -> None:
    """Connections checked out by a thread with a time limit are watched until checked in."""
    sqlite = engine.dialect.name == "sqlite"

    @event.listens_for(engine, "checkout")
    def _watch(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        until = _deadline.until
        if until is None:
            return
        if breaker.is_open():
            raise DatabaseUnavailable("the database failed a moment ago (breaker open)")
        left = until - time.monotonic()
        if left <= 0:
            raise DatabaseUnavailable("no time left to wait for the database")
        if sqlite:
            # The busy handler (another process holds the write lock) waits no longer either.
            dbapi_conn.execute(f"PRAGMA busy_timeout={max(1, int(left * 1000))}")
            record.info["short_busy_timeout"] = True
        _watchdog.watch(id(record), until,
                        _stopper(dbapi_conn, breaker if _deadline.trips_breaker else None))

    @event.listens_for(engine, "checkin")
    def _unwatch(dbapi_conn: Any, record: Any) -> None:
        _watchdog.forget(id(record))
        if record.info.pop("short_busy_timeout", False) and dbapi_conn is not None:
            try:
                dbapi_conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
            except Exception:  # pragma: no cover - the pool discards a broken connection
                log.debug("could not restore busy_timeout", exc_info=True)

    @event.listens_for(engine, "handle_error")
    def _trip(context: Any) -> None:
        if _deadline.until is not None and _deadline.trips_breaker and (
                context.is_disconnect or is_unreachable(context.sqlalchemy_exception)):
            breaker.trip(type(context.original_exception).__name__)


SQLITE_BUSY_MS = 30000


def _bound_connects(engine: Engine, breaker: Breaker, connect_seconds: float) -> None:
    """A thread with a time limit opens a connection only with the time to wait for it: an
    attempt takes up to DB_CONNECT_TIMEOUT_SECONDS (2 s at least, with psycopg), and the
    watchdog cannot cut it short."""

    @event.listens_for(engine, "do_connect")
    def _check(_dialect: Any, _conn_rec: Any, _cargs: Any, _cparams: Any) -> None:
        left = time_left()
        if left is None:
            return
        if breaker.is_open():
            raise DatabaseUnavailable("the database failed a moment ago (breaker open)")
        if left < connect_seconds:
            raise DatabaseUnavailable("no time left to open a connection to the database")


class BoundedQueuePool(QueuePool):
    """A QueuePool whose wait for a free connection ends with the thread's time limit."""

    @property
    def _timeout(self) -> float:
        left = time_left()
        if left is None:
            return self._configured_timeout
        return max(0.001, min(self._configured_timeout, left))

    @_timeout.setter
    def _timeout(self, value: float) -> None:
        self._configured_timeout = value


def make_engine(url: str, limits: Limits | None = None, **kw: Any) -> Engine:
    limits = limits or Limits()
    kw.setdefault("pool_timeout", limits.pool_seconds)
    if url.startswith("sqlite"):
        if "poolclass" not in kw and make_url(url).database not in (None, "", ":memory:"):
            # Keep connections: a new one runs the PRAGMAs below, and closing the last one
            # checkpoints the WAL into the file, which made each IVR webhook five times slower
            # (bench/ivr.py). Enough for `helpline serve`'s threads and the scheduler's jobs.
            kw.update(poolclass=BoundedQueuePool, pool_size=16, max_overflow=16)
        else:
            kw.pop("pool_timeout")
        engine = create_engine(
            url,
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_MS / 1000},
            **kw,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            # FULL: a commit is on disk before it returns (one fsync of the WAL), so what a
            # webhook acknowledged survives the machine's crash, not only the process's.
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
            cur.close()

        return engine
    # hide_parameters: bound values (sealed or not) never reach a log or an error message.
    connect_args = {"connect_timeout": limits.connect_seconds,
                    "options": f"-c statement_timeout={limits.statement_seconds * 1000}"}
    connect_args.update(kw.pop("connect_args", {}))
    kw.setdefault("poolclass", BoundedQueuePool)
    engine = create_engine(url, pool_size=10, max_overflow=20, hide_parameters=True,
                           connect_args=connect_args, **kw)
    # Many rows inserted at once go as one INSERT with many VALUES, as SQLAlchemy does with
    # psycopg2, rather than through psycopg's pipeline, which cost more time in Python than
    # the round trips it saved (measured on the IVR's writes, bench/ivr.py).
    engine.dialect.use_insertmanyvalues_wo_returning = True
    _ping_when_idle(engine)
    return engine


# A connection made or back from use less than this long ago is not pinged before its next use.
IDLE_PING_SECONDS = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """Like ``pool_pre_ping``, but only for connections that have sat idle.

    Under load a pre-ping is a round trip on every checkout, several per IVR webhook
    (bench/ivr.py); a connection returned a moment ago is almost always alive, and if the
    server went away meanwhile its first statement fails like any disconnect: the pool
    replaces its connections and the IVR spools what it could not write.
    """

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("returned_at", 0.0) < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            # The pool discards this connection and checks out another (a fresh one if need be).
            raise DisconnectionError("the connection was lost while idle") from exc


class _Depth(threading.local):
    n = 0


class Database:
    """The engine and session factory of one app or command, with its breaker."""

    def __init__(self, url: str, limits: Limits | None = None, **engine_kw: Any) -> None:
        self.url = url
        self.limits = limits or Limits()
        self.breaker = Breaker(self.limits.breaker_seconds)
        self.engine = make_engine(url, self.limits, **engine_kw)
        _bound_checkouts(self.engine, self.breaker)
        _bound_connects(self.engine, self.breaker,
                        0 if self.is_sqlite else self.limits.connect_seconds)
        from sqlalchemy.orm import sessionmaker

        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite takes one writer at a time: this process's threads queue here for write
        # sessions rather than in SQLite's busy handler, which sleeps up to 100 ms per try.
        self._writer: AbstractContextManager[Any] = (
            _TimedLock() if self.is_sqlite else nullcontext())
        self._depth = _Depth()  # this thread's sessions opened and not yet closed

    @classmethod
    def for_settings(cls, settings: Settings) -> Database:
        """The helpline's database, with the time limits its settings give."""
        return cls(settings.database_url, Limits.for_settings(settings))

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self._writer:
            self._depth.n += 1
            try:
                with self.sessions() as session, session.begin():
                    yield session
            finally:
                self._depth.n -= 1

    def in_session(self) -> bool:
        """True inside :meth:`session` on this thread (which then holds SQLite's writer)."""
        return self._depth.n > 0

    def dispose(self) -> None:
        self.engine.dispose()


class _TimedLock:
    """A re-entrant lock that a thread with a time limit waits for no longer than that."""

    def __init__(self) -> None:
        self._lock = threading.RLock()

    def __enter__(self) -> None:
        left = time_left()
        if not self._lock.acquire(timeout=-1 if left is None else max(0.0, left)):
            raise DatabaseUnavailable("no time left to wait for the database's writer")

    def __exit__(self, *exc: object) -> None:
        self._lock.release()
