"""APScheduler wiring: exactly one active scheduler however many processes run it.

Every process that runs the scheduler (``helpline scheduler``, or ``helpline serve`` in-process)
takes part in an election. On PostgreSQL the active one holds a session-level advisory lock on
a connection of its own: if the process dies, the connection closes and the lock goes with it.
On SQLite it holds a lease row renewed by heartbeat, which a standby takes over once it has
expired. Only the active process starts APScheduler. Jobs and their next run times live in the
app database (SQLAlchemyJobStore), so a restart loses nothing; coalescing and a misfire grace
time make what fell due while everything was down run once when a scheduler comes back.
Delivery itself is exactly once regardless (see :mod:`helpline.followups`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

import click
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import create_engine, or_, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from helpline.app import jobs
from helpline.db import Database, affected_rows, utcnow, within
from helpline.models.followups import SchedulerJobRun, SchedulerLease

if TYPE_CHECKING:
    from helpline.app.cli_context import CliContext
    from helpline.app.runtime import Runtime

log = logging.getLogger(__name__)

ADVISORY_LOCK_KEY = 7_401_002  # distinct from the audit chain's lock
LEASE_NAME = "scheduler"
LEASE_SECONDS = 30
HEARTBEAT_SECONDS = 10


def holder_id() -> str:
    """Who holds the lease: host, process and a random part (two schedulers in one process
    are two holders)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Elector(Protocol):
    holder: str

    def acquire(self, now: dt.datetime | None = None) -> bool: ...

    def renew(self, now: dt.datetime | None = None) -> bool: ...

    def release(self) -> None: ...


class AdvisoryLockElector:
    """PostgreSQL: a session-level advisory lock held on a dedicated connection."""

    def __init__(self, url: str, key: int = ADVISORY_LOCK_KEY, holder: str | None = None) -> None:
        # NullPool: closing the connection really disconnects, so the lock cannot linger in a
        # pooled connection.
        self.engine = create_engine(url, poolclass=NullPool, hide_parameters=True)
        self.key = key
        self.holder = holder or holder_id()
        self.connection: Connection | None = None

    def acquire(self, now: dt.datetime | None = None) -> bool:
        if self.connection is not None:
            return self.renew(now)
        conn = self.engine.connect()
        try:
            won = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                    {"k": self.key}).scalar())
            conn.commit()
        except DBAPIError:
            conn.close()
            return False
        if won:
            self.connection = conn
        else:
            conn.close()
        return won

    def renew(self, now: dt.datetime | None = None) -> bool:
        if self.connection is None:
            return False
        try:
            self.connection.execute(text("SELECT 1"))
            self.connection.commit()
            return True
        except DBAPIError:  # the connection is gone, and the lock with it
            self._drop()
            return False

    def release(self) -> None:
        if self.connection is None:
            return
        try:
            self.connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self.connection.commit()
        except DBAPIError:
            pass
        self._drop()

    def _drop(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(DBAPIError):
                self.connection.close()
        self.connection = None

    def dispose(self) -> None:
        self.release()
        self.engine.dispose()


class LeaseElector:
    """A lease row (holder, expires_at) renewed by heartbeat; taken over once expired.

    For SQLite, where there are no advisory locks; it works on PostgreSQL too.
    """

    def __init__(self, sessions: Callable[[], Session], holder: str | None = None,
                 ttl: dt.timedelta = dt.timedelta(seconds=LEASE_SECONDS),
                 name: str = LEASE_NAME) -> None:
        self.sessions = sessions
        self.holder = holder or holder_id()
        self.ttl = ttl
        self.name = name

    def acquire(self, now: dt.datetime | None = None) -> bool:
        now = now or utcnow()
        with self.sessions() as session:
            taken = affected_rows(session.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == self.name,
                       or_(SchedulerLease.holder == self.holder,
                           SchedulerLease.expires_at < now))
                .values(holder=self.holder, acquired_at=now, expires_at=now + self.ttl)
            ))
            if taken == 1:
                session.commit()
                return True
            session.rollback()
            session.add(SchedulerLease(name=self.name, holder=self.holder, acquired_at=now,
                                       expires_at=now + self.ttl))
            try:
                session.commit()
            except IntegrityError:  # someone else holds a live lease
                session.rollback()
                return False
            return True

    def renew(self, now: dt.datetime | None = None) -> bool:
        now = now or utcnow()
        with self.sessions() as session:
            kept = affected_rows(session.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == self.name, SchedulerLease.holder == self.holder)
                .values(expires_at=now + self.ttl)
            ))
            session.commit()
            return kept == 1

    def release(self) -> None:
        with self.sessions() as session:
            session.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == self.name, SchedulerLease.holder == self.holder)
                .values(expires_at=dt.datetime(1970, 1, 1, tzinfo=dt.UTC)))
            session.commit()


def elector_for(db: Database) -> Elector:
    if db.engine.dialect.name == "postgresql":
        return AdvisoryLockElector(db.engine.url.render_as_string(hide_password=False))
    return LeaseElector(db.sessions)


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: Callable[..., Any]
    trigger: BaseTrigger
    misfire_grace_time: int


def job_specs(timezone: str) -> list[JobSpec]:
    """The jobs and their times. Nightly jobs run at night in the helpline's own zone."""
    return [
        JobSpec("followups.deliver", jobs.deliver_due, IntervalTrigger(seconds=15), 3600),
        JobSpec("followups.escalate", jobs.escalate_overdue, IntervalTrigger(minutes=5), 3600),
        JobSpec("sms.pending", jobs.send_pending_texts, IntervalTrigger(seconds=5), 600),
        JobSpec("ivr.spool_replay", jobs.replay_ivr_spool, IntervalTrigger(minutes=1), 3600),
        JobSpec("ivr.purge_keys", jobs.purge_idempotency_keys,
                CronTrigger(hour=3, minute=45, timezone=timezone), 86400),
        JobSpec("calls.close_lost", jobs.close_lost_calls, IntervalTrigger(minutes=1), 3600),
        JobSpec("audit.checkpoint", jobs.checkpoint_audit, IntervalTrigger(minutes=5), 3600),
        JobSpec("meetings.refresh", jobs.refresh_meeting_feeds, IntervalTrigger(hours=6),
                6 * 3600),
        JobSpec("followups.summary", jobs.nightly_summary,
                CronTrigger(hour=0, minute=20, timezone=timezone), 86400),
        JobSpec("retention.purge", jobs.purge_expired,
                CronTrigger(hour=3, minute=15, timezone=timezone), 86400),
    ]


class _BackgroundScheduler(BackgroundScheduler):
    def _process_jobs(self) -> float | None:
        # APScheduler 3.x wakes its thread once more after shutdown() and processes jobs: that
        # round would mark a due run as done in the shared job store without running it.
        if self.state == STATE_STOPPED:
            return None
        return super()._process_jobs()


def build_apscheduler(db: Database) -> BackgroundScheduler:
    return _BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=db.engine, tablename="apscheduler_jobs")},
        job_defaults={"coalesce": True, "max_instances": 1},
        timezone=dt.UTC,
    )


RUN_NOTE_SECONDS = 5  # a hung database must not hold the job's thread to note a run


def note_run(db: Database, event: JobExecutionEvent) -> None:
    """Keep the end of a job's run (when it was due, when it ended, whether it raised) for
    /metrics. A run that cannot be noted is only logged: the job itself has done its work."""
    due = event.scheduled_run_time.astimezone(dt.UTC)
    values = {"due_at": due, "finished_at": utcnow(), "ok": event.exception is None}
    try:
        with within(RUN_NOTE_SECONDS), db.session() as session:
            updated = session.execute(update(SchedulerJobRun)
                                      .where(SchedulerJobRun.job_id == event.job_id)
                                      .values(**values))
            if not affected_rows(updated):
                session.add(SchedulerJobRun(job_id=event.job_id, **values))
    except SQLAlchemyError as exc:
        log.warning("the run of %s could not be noted (%s)", event.job_id, type(exc).__name__)


class HelplineScheduler:
    """One candidate in the election; runs APScheduler while it is the active one."""

    def __init__(self, runtime: Runtime, elector: Elector | None = None,
                 start_jobs: bool = True,
                 job_listener: Callable[[JobExecutionEvent], None] | None = None) -> None:
        self.runtime = runtime
        self.job_listener = job_listener
        self.elector = elector or elector_for(runtime.db)
        self.start_jobs = start_jobs
        self.apscheduler: BackgroundScheduler | None = None
        self.active = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def holder(self) -> str:
        return self.elector.holder

    def poll(self, now: dt.datetime | None = None) -> bool:
        """One election step (the heartbeat): renew if active, else try to take over."""
        try:
            if self.active:
                if not self.elector.renew(now):
                    log.warning("scheduler %s lost the election; standing by", self.holder)
                    self._stand_down()
            elif self.elector.acquire(now):
                log.info("scheduler %s is now the active one", self.holder)
                self._take_over()
        except DBAPIError as exc:
            log.error("scheduler election: database unavailable (%s)", type(exc).__name__)
            if self.active:
                self._stand_down()
        return self.active

    def _take_over(self) -> None:
        rt = self.runtime
        jobs.install(jobs.JobContext(db=rt.db, settings=rt.settings, telephony=rt.telephony))
        self.active = True
        if not self.start_jobs:
            return
        scheduler = build_apscheduler(rt.db)
        scheduler.add_listener(lambda event: note_run(rt.db, event),
                               EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        if self.job_listener is not None:
            scheduler.add_listener(self.job_listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        scheduler.start(paused=True)
        for spec in job_specs(rt.settings.default_timezone):
            existing = scheduler.get_job(spec.id)
            # Keep a stored job's next run time: that is what makes a missed run happen.
            if existing is None:
                scheduler.add_job(spec.func, spec.trigger, id=spec.id, name=spec.id,
                                  misfire_grace_time=spec.misfire_grace_time, coalesce=True,
                                  max_instances=1)
            elif str(existing.trigger) != str(spec.trigger):
                scheduler.reschedule_job(spec.id, trigger=spec.trigger)
        scheduler.resume()
        self.apscheduler = scheduler

    def _stand_down(self) -> None:
        self.active = False
        if self.apscheduler is not None:
            try:
                self.apscheduler.shutdown(wait=False)
            except Exception as exc:  # already stopped
                log.debug("scheduler shutdown: %s", type(exc).__name__)
            self.apscheduler = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(HEARTBEAT_SECONDS)

    def start(self) -> HelplineScheduler:
        """Run the election in a background thread (standing by until it wins)."""
        self._thread = threading.Thread(target=self._loop, name="helpline-scheduler",
                                        daemon=True)
        self._thread.start()
        return self

    def run_forever(self) -> None:
        """Run the election in this thread until interrupted."""
        try:
            self._loop()
        finally:
            self.shutdown()

    def kill(self) -> None:
        """Stop without handing over (as a crash would): tests use this."""
        self._stop.set()
        self._stand_down()

    def shutdown(self) -> None:
        """Stop, and hand the election over at once."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=HEARTBEAT_SECONDS + 5)
        was_active = self.active
        self._stand_down()
        if was_active:
            self.elector.release()
        dispose = getattr(self.elector, "dispose", None)
        if dispose is not None:
            dispose()


def start_scheduler(runtime: Runtime) -> HelplineScheduler:
    """Start the in-process scheduler for ``helpline serve`` (stands by if another is active)."""
    return HelplineScheduler(runtime).start()


@click.command("scheduler")
@click.pass_context
def scheduler_command(click_ctx: click.Context) -> None:
    """Run the scheduler on its own (production). Any number may run: one is active."""
    from helpline.app.cli_context import CliContext, friendly_errors

    friendly_errors(_run_scheduler)(click_ctx.ensure_object(CliContext))


def _stop_on_term(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _run_scheduler(ctx: CliContext) -> None:
    from helpline import migrate
    from helpline.app import configure_logging
    from helpline.app.runtime import Runtime
    from helpline.telephony import telephony_for

    settings = ctx.settings
    if not migrate.is_current(ctx.db):
        raise click.ClickException("the database schema is not current: run `helpline init`")
    configure_logging(settings.log_level, settings.log_format)
    runtime = Runtime(settings=settings, db=ctx.db, telephony=telephony_for(settings))
    scheduler = HelplineScheduler(runtime)
    click.echo(f"Scheduler {scheduler.holder} started; waiting to become the active one.")
    # A service manager stops with SIGTERM: hand the election over at once rather than leave
    # the standbys waiting for the lease to expire.
    previous = signal.signal(signal.SIGTERM, _stop_on_term)
    try:
        scheduler.run_forever()
    except KeyboardInterrupt:
        click.echo("Scheduler stopped.")
    finally:
        signal.signal(signal.SIGTERM, previous)
