"""Routing passes in the background, and the signal that tells live streams an offer changed.

Every web process runs a :class:`Router`: a thread that runs :func:`helpline.calls.routing.route`
when nudged (a caller entered a queue, a counselor became Available, an offer was declined) and,
in one process, every ``TICK_SECONDS`` (offers ring out on time). Passes in several processes
may race; the database keeps them right (see helpline.calls.routing), and on PostgreSQL an
advisory lock taken for the pass's transaction lets one process route while the others skip.

On PostgreSQL the ticking is elected: the process whose watching connection holds a session
advisory lock ticks, the others route only when nudged (and every ``FOLLOWER_TICK_SECONDS``, in
case the elected one is stuck). Eight web workers ticking each cost as much CPU as the IVR's
webhooks at a busy hour. When the elected process dies its connection closes, the lock is
free, and another takes it within a second.

:class:`Signal` is how the counselors' live streams of one process learn that offers changed,
wherever the change was made: the pass of this process tells it directly; on PostgreSQL a pass
(or an accept) of any process sends ``NOTIFY helpline_offers`` in its transaction, and one
thread per process LISTENs; on SQLite (one machine) the thread polls the offers table's newest
change every ``POLL_SECONDS``. Streams wait on the signal, so a hundred of them cost one query
per change, not one each.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import threading
import time
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from helpline.calls import routing
from helpline.config import Settings
from helpline.db import Database, utcnow, within
from helpline.models import Offer, OfferState, User

log = logging.getLogger(__name__)

TICK_SECONDS = 0.5
# Nudges that come closer together than this share one pass: a burst of callers costs one.
PASS_GAP_SECONDS = 0.1
POLL_SECONDS = 0.25
PASS_WAIT_SECONDS = 2.0
ADVISORY_LOCK_KEY = 7_401_003  # distinct from the scheduler's and the audit chain's
TICKING_LOCK_KEY = 7_401_004
FOLLOWER_TICK_SECONDS = 5.0


class Signal:
    """A counter that goes up whenever offers may have changed; streams wait for it to move."""

    def __init__(self) -> None:
        self._version = 0
        self._changed = threading.Condition()

    @property
    def version(self) -> int:
        return self._version

    def bump(self) -> None:
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """The version once it differs from ``seen``, or after ``timeout`` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self._version != seen, timeout)
            return self._version


class Router:
    """This process's routing thread and its offers signal."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.signal = Signal()
        self._nudged = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pid = os.getpid()
        self.passes = 0
        # SQLite: one machine, usually one process; every process ticks.
        self.ticking = db.is_sqlite

    def start(self) -> Router:
        self._threads = [threading.Thread(target=self._route_loop, name="router", daemon=True),
                         threading.Thread(target=self._watch_loop, name="offers-watch",
                                          daemon=True)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._nudged.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def nudge(self) -> None:
        """Route soon: something that routing reads has changed."""
        if os.getpid() != self._pid:  # a forked child has no threads of its parent's
            return
        self._nudged.set()

    # --- the routing thread ---------------------------------------------------------------
    def _route_loop(self) -> None:
        while not self._stop.is_set():
            self._nudged.wait(TICK_SECONDS if self.ticking else FOLLOWER_TICK_SECONDS)
            self._nudged.clear()
            if self._stop.is_set():
                return
            try:
                self.run_pass()
            except Exception:  # the thread must outlive any one failed pass
                log.exception("routing pass failed; the next one retries")
                self._stop.wait(TICK_SECONDS)
            self._stop.wait(PASS_GAP_SECONDS)

    def run_pass(self) -> routing.Pass | None:
        """One pass, if there is anything to do (asked first with reads only: on SQLite a
        write would queue behind the IVR's)."""
        self.passes += 1
        # With the time to open a connection too (PostgreSQL): the pool may hold none idle (a
        # process just started, or streams and webhooks hold them all), and a connection that
        # may not be opened would fail every pass.
        connect = 0.0 if self.db.is_sqlite else self.db.limits.connect_seconds
        with within(PASS_WAIT_SECONDS + connect, trips_breaker=False):
            with self.db.sessions() as session:
                if not work_to_do(session, self.settings):
                    return None
            with self.db.session() as session:
                if not _lock_for_pass(session):
                    return None
                done = routing.route(session, self.settings)
                if done.changed:
                    routing.notify_offers(session)
        if done.changed:
            self.signal.bump()
        return done

    # --- the watching thread ----------------------------------------------------------------
    def _watch_loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.db.is_sqlite:
                    self._poll()
                else:
                    self._listen()
            except Exception:  # reconnect after any failure, a little later
                log.warning("offers watch failed; retrying", exc_info=True)
                self.signal.bump()  # streams re-read: they may have missed a change
                self._stop.wait(1.0)

    def _poll(self) -> None:
        seen: object = None
        while not self._stop.is_set():
            with within(PASS_WAIT_SECONDS, trips_breaker=False), self.db.sessions() as session:
                now = _offers_fingerprint(session)
            if now != seen:
                seen = now
                self.signal.bump()
            self._stop.wait(POLL_SECONDS)

    def _listen(self) -> None:
        import psycopg

        url = self.db.engine.url.set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True,
                             connect_timeout=self.settings.db_connect_timeout_seconds) as conn:
            conn.execute(f"LISTEN {routing.CHANNEL}")
            self.signal.bump()  # changes made before LISTEN took effect
            try:
                self._watch(conn)
            finally:
                self.ticking = False  # the lock went with the connection

    def _watch(self, conn: Any) -> None:
        while not self._stop.is_set():
            if not self.ticking:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)",
                                   (TICKING_LOCK_KEY,)).fetchone()
                if row and row[0]:
                    self.ticking = True
                    self._nudged.set()  # its routing thread may be in a follower's long wait
            # Each generator is run to its end before the next: one holds the connection's
            # lock while it runs, so a second inside it would wait forever.
            if not list(conn.notifies(timeout=1.0, stop_after=1)):
                continue
            # Drain what else arrived with it: one bump for a burst of changes.
            with contextlib.suppress(Exception):
                for _more in conn.notifies(timeout=0.01):
                    pass
            self.signal.bump()


def work_to_do(session: Session, settings: Settings, now: dt.datetime | None = None) -> bool:
    """Does a routing pass have anything to do: an offer to end, or a caller (or a queue
    callback) to offer to an eligible free counselor?"""
    now = now or utcnow()
    to_end, someone_might = session.execute(routing.pass_gate(), {"now": now}).one()
    if to_end:
        return True
    # Eligibility included: two hundred callers nobody free can take make no pass.
    return bool(someone_might) and bool(routing.planned(session, settings, now))


def _lock_for_pass(session: Session) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite's writer lock already lets one pass run at a time
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"),
                               {"key": ADVISORY_LOCK_KEY}))


def _offers_fingerprint(session: Session) -> tuple[object, ...]:
    row = session.execute(select(func.max(Offer.id), func.max(Offer.ended_at),
                                 func.count(Offer.id).filter(Offer.state == OfferState.RINGING))
                          ).one()
    status = session.execute(select(func.max(User.status_since))).scalar()
    return (*tuple(row), status)


def wait_for_pass(router: Router, timeout: float = 5.0) -> None:
    """For tests: until the router has run one more pass."""
    passes = router.passes
    deadline = time.monotonic() + timeout
    router.nudge()
    while router.passes == passes and time.monotonic() < deadline:
        time.sleep(0.02)
