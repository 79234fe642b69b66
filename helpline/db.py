"""Engine, sessions and the declarative base shared by every model."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, cast

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
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import QueuePool
from sqlalchemy.types import TypeDecorator

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


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime()}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def affected_rows(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE run through ``Session.execute`` changed.

    ``Session.execute`` is typed to return a plain ``Result`` whatever the statement; for
    an UPDATE or DELETE it is a ``CursorResult``, the one that carries ``rowcount``.
    """
    return cast(CursorResult[Any], result).rowcount


def make_engine(url: str, **kw: Any) -> Engine:
    if url.startswith("sqlite"):
        if "poolclass" not in kw and make_url(url).database not in (None, "", ":memory:"):
            # Keep connections: a new one runs the PRAGMAs below, and closing the last one
            # checkpoints the WAL into the file, which made each IVR webhook five times slower
            # (bench/ivr.py). Enough for `helpline serve`'s threads and the scheduler's jobs.
            kw.update(poolclass=QueuePool, pool_size=16, max_overflow=16)
        engine = create_engine(
            url,
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": 30},
            **kw,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    # hide_parameters: bound values (sealed or not) never reach a log or an error message.
    engine = create_engine(url, pool_size=10, max_overflow=20, hide_parameters=True, **kw)
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
    """The engine and session factory of one app or command."""

    def __init__(self, url: str, **engine_kw: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kw)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite takes one writer at a time: this process's threads queue here for write
        # sessions rather than in SQLite's busy handler, which sleeps up to 100 ms per try.
        self._writer: AbstractContextManager[Any] = (
            threading.RLock() if self.is_sqlite else nullcontext())
        self._depth = _Depth()  # this thread's sessions opened and not yet closed

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
