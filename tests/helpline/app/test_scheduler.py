"""One active scheduler, take-over when it dies, and nothing lost across a restart."""

from __future__ import annotations

import datetime as dt
import os
import threading

import pytest
from sqlalchemy import func, select, text

from helpline.app import jobs
from helpline.app.runtime import Runtime
from helpline.app.scheduler import AdvisoryLockElector, HelplineScheduler, LeaseElector, job_specs
from helpline.models import OutboxMessage
from helpline.models.followups import FollowUpDailySummary, FollowUpState, SchedulerJobRun
from tests.fixtures.followups import NOW

SECOND = dt.timedelta(seconds=1)


@pytest.fixture
def runtime(db, settings, outbox) -> Runtime:
    return Runtime(settings=settings, db=db, telephony=outbox)


def _candidate(runtime, name: str) -> HelplineScheduler:
    return HelplineScheduler(runtime, LeaseElector(runtime.db.sessions, holder=name),
                             start_jobs=False)


def test_only_one_scheduler_is_active_and_a_standby_takes_over_when_it_dies(runtime):
    a, b = _candidate(runtime, "a"), _candidate(runtime, "b")
    assert a.poll(NOW) is True
    assert b.poll(NOW) is False
    # Heartbeats keep the lease.
    assert a.poll(NOW + 20 * SECOND) is True
    assert b.poll(NOW + 40 * SECOND) is False
    # a dies (no more heartbeats): once its lease expires, b takes over and a stands down.
    a.kill()
    assert b.poll(NOW + 49 * SECOND) is False
    assert b.poll(NOW + 51 * SECOND) is True
    assert a.elector.renew(NOW + 52 * SECOND) is False


def test_a_stopped_scheduler_hands_over_at_once(runtime):
    a, b = _candidate(runtime, "a"), _candidate(runtime, "b")
    a.poll(NOW)
    a.shutdown()
    assert b.poll(NOW + SECOND) is True


def test_a_scheduler_killed_and_restarted_delivers_what_fell_due_meanwhile_once(
        runtime, session, make_followup):
    early = make_followup(due=NOW)
    during = [make_followup(due=NOW + dt.timedelta(minutes=m), phone=f"+155555503{m:02d}")
              for m in (5, 10)]
    first = _candidate(runtime, "first")
    assert first.poll(NOW)
    assert jobs.deliver_due(now=NOW).delivered == [early.id]
    first.kill()
    # Down for an hour; a new process starts and becomes active once the lease has expired.
    restarted = _candidate(runtime, "restarted")
    assert restarted.poll(NOW + dt.timedelta(hours=1))
    report = jobs.deliver_due(now=NOW + dt.timedelta(hours=1))
    assert sorted(report.delivered) == sorted(f.id for f in during)
    assert jobs.deliver_due(now=NOW + dt.timedelta(hours=1, seconds=15)).delivered == []
    assert session.scalar(select(func.count(OutboxMessage.id))) == 3
    session.expire_all()
    assert {f.state for f in [early, *during]} == {FollowUpState.DONE}


def test_jobs_and_their_times_survive_a_restart_and_a_missed_run_happens_once(runtime, session):
    first = HelplineScheduler(runtime, LeaseElector(runtime.db.sessions, holder="first"))
    assert first.poll()
    stored = set(session.scalars(text("SELECT id FROM apscheduler_jobs")))
    assert stored == {spec.id for spec in job_specs("UTC")}
    # The process stops; while nothing ran, last night's summary fell due (three hours ago).
    first.apscheduler.pause()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    first.apscheduler.modify_job("followups.summary", next_run_time=past)
    for job_id in stored - {"followups.summary"}:
        first.apscheduler.modify_job(job_id, next_run_time=past + dt.timedelta(days=1))
    first.kill()

    ran = threading.Event()
    runs: list[str] = []

    def listener(event) -> None:  # type: ignore[no-untyped-def]
        runs.append(event.job_id)
        if event.job_id == "followups.summary":
            ran.set()

    second = HelplineScheduler(runtime, LeaseElector(runtime.db.sessions, holder="second"),
                               job_listener=listener)
    try:
        # ... once the dead one's lease has expired.
        assert second.poll(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
        assert ran.wait(10), "the missed nightly summary did not run after the restart"
        next_run = second.apscheduler.get_job("followups.summary").next_run_time
        assert next_run > dt.datetime.now(dt.UTC)
    finally:
        second.shutdown()
    assert runs.count("followups.summary") == 1
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(FollowUpDailySummary)) == 1
    # Its run is noted for /metrics: due while nothing ran (coalesced runs count as the last
    # one missed), ended now, without an error.
    noted = session.get(SchedulerJobRun, "followups.summary")
    assert noted is not None and noted.ok
    assert past <= noted.due_at < noted.finished_at
    assert noted.finished_at > past + dt.timedelta(hours=3)


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgresql"),
                    reason="needs PostgreSQL: DATABASE_URL=postgresql+psycopg://...")
def test_postgresql_advisory_lock_elects_one_and_passes_on_when_its_holder_dies(database_url):
    a = AdvisoryLockElector(database_url, key=991)
    b = AdvisoryLockElector(database_url, key=991)
    try:
        assert a.acquire() is True
        assert b.acquire() is False
        assert a.renew() is True
        # The process dies: its connection goes, and the lock with it.
        a.connection.invalidate()
        a.connection = None
        assert b.acquire() is True
        assert a.acquire() is False
    finally:
        a.dispose()
        b.dispose()


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgresql"),
                    reason="needs PostgreSQL: DATABASE_URL=postgresql+psycopg://...")
def test_two_schedulers_over_one_postgresql_database_deliver_each_follow_up_once_across_a_crash(
        runtime, session, make_followup, database_url):
    early = make_followup(due=NOW)
    later = make_followup(due=NOW + dt.timedelta(minutes=30), phone="+15555550177")
    first = HelplineScheduler(runtime, AdvisoryLockElector(database_url, holder="first"),
                              start_jobs=False)
    second = HelplineScheduler(runtime, AdvisoryLockElector(database_url, holder="second"),
                               start_jobs=False)
    try:
        assert first.poll(NOW) is True
        assert second.poll(NOW) is False
        assert jobs.deliver_due(now=NOW).delivered == [early.id]
        # The active process dies: its connection goes, and the advisory lock with it.
        first.elector.connection.invalidate()
        first.elector.connection = None
        first.kill()
        assert second.poll(NOW + dt.timedelta(hours=1)) is True
        report = jobs.deliver_due(now=NOW + dt.timedelta(hours=1))
        assert report.delivered == [later.id]
        assert jobs.deliver_due(now=NOW + dt.timedelta(hours=1, seconds=15)).delivered == []
    finally:
        first.shutdown()
        second.shutdown()
    assert session.scalar(select(func.count(OutboxMessage.id))) == 2


def test_the_scheduler_command_refuses_a_database_that_is_not_migrated(tmp_path, settings):
    from tests.fixtures.cli import CliInvoker

    bare = settings.with_overrides(database_url=f"sqlite:///{tmp_path / 'bare.db'}")
    result = CliInvoker(bare)("scheduler")
    assert result.exit_code != 0
    assert "schema is not current: run `helpline init`" in result.output
