"""Calls whose end was lost are closed by the scheduler, and say why."""

from __future__ import annotations

import datetime as dt
import threading
from contextlib import AbstractContextManager

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from helpline.app import jobs
from helpline.app.scheduler import job_specs
from helpline.calls.lost import LostReport, close_lost_calls
from helpline.calls.queues import queue_snapshot
from helpline.calls.wallboard import wallboard
from helpline.config import Settings
from helpline.db import Database
from helpline.models import Call, CallEvent, Outcome
from helpline.telephony import OutboxTelephony, TwilioTelephony
from tests.factories import make_call
from tests.fakes.twilio_api import FakeTwilioApi

NOW = dt.datetime(2026, 1, 7, 20, 0, tzinfo=dt.UTC)
TZ = "America/New_York"


def minutes_ago(minutes: float) -> dt.datetime:
    return NOW - dt.timedelta(minutes=minutes)


@pytest.fixture
def outbox(settings: Settings) -> OutboxTelephony:
    return OutboxTelephony(settings)


@pytest.fixture
def twilio_settings(settings: Settings) -> Settings:
    return settings.with_overrides(telephony="twilio", twilio_account_sid="AC" + "1" * 32)


@pytest.fixture
def api() -> FakeTwilioApi:
    return FakeTwilioApi()


@pytest.fixture
def rest(twilio_settings: Settings, api: FakeTwilioApi) -> TwilioTelephony:
    return TwilioTelephony(twilio_settings, http_client=api)


def waiting_caller(session: Session, silent_minutes: float) -> Call:
    """A caller queued ``silent_minutes`` ago, with no event since."""
    queued_at = minutes_ago(silent_minutes)
    call = make_call(session, status="queued", queue_name="general-en", need="self",
                     step="queue", started_at=queued_at - dt.timedelta(minutes=1),
                     enqueued_at=queued_at)
    session.add(CallEvent(call_id=call.id, at=queued_at, kind="queue",
                          detail={"queue": "general-en"}))
    session.commit()
    return call


def talking_caller(session: Session, silent_minutes: float) -> Call:
    """A caller answered by a counselor ``silent_minutes`` ago, with no event since."""
    answered_at = minutes_ago(silent_minutes)
    call = make_call(session, status="in-progress", queue_name="general-en", need="self",
                     step="queue", started_at=answered_at - dt.timedelta(minutes=3),
                     enqueued_at=answered_at - dt.timedelta(minutes=2),
                     answered_at=answered_at)
    session.add(CallEvent(call_id=call.id, at=answered_at, kind="answered", detail={}))
    session.commit()
    return call


def closed_lost(session: Session, call: Call) -> list[CallEvent]:
    session.expire_all()
    return list(session.scalars(select(CallEvent).where(CallEvent.call_id == call.id,
                                                        CallEvent.kind == "closed_lost")))


def test_a_queued_caller_silent_for_eleven_minutes_is_closed_and_no_longer_waits(
        db: Database, session: Session, outbox: OutboxTelephony, settings: Settings) -> None:
    call = waiting_caller(session, 11)
    assert [q.waiting for q in queue_snapshot(session, now=NOW)] == [1]

    report = close_lost_calls(db, outbox, settings, now=NOW)

    assert report.closed == [call.id]
    session.expire_all()
    assert call.status == "completed"
    assert call.outcome == Outcome.ABANDONED_QUEUE
    # Without Twilio the caller was last known there when they were queued.
    assert call.ended_at == minutes_ago(11)
    assert call.wait_seconds == 0
    assert queue_snapshot(session, now=NOW) == []
    assert wallboard(session, timezone=TZ, now=NOW).waiting == 0
    [event] = closed_lost(session, call)
    assert event.at == NOW
    assert event.detail == {"reason": "no_event", "idle_minutes": 11, "twilio_status": None,
                            "twilio_unreachable": False}


def test_calls_with_recent_events_are_left_open(db: Database, session: Session,
                                                outbox: OutboxTelephony,
                                                settings: Settings) -> None:
    queued = waiting_caller(session, 9)
    # Started hours ago, but still moving through the menu.
    in_menu = make_call(session, status="in-progress", started_at=minutes_ago(300))
    session.add(CallEvent(call_id=in_menu.id, at=minutes_ago(2), kind="menu", detail={}))
    session.commit()

    report = close_lost_calls(db, outbox, settings, now=NOW)

    assert report == LostReport()
    session.expire_all()
    assert queued.ended_at is None and in_menu.ended_at is None
    assert [q.waiting for q in queue_snapshot(session, now=NOW)] == [1]


def test_a_conversation_is_left_at_30_minutes_and_closed_at_241(
        db: Database, session: Session, outbox: OutboxTelephony, settings: Settings) -> None:
    call = talking_caller(session, 30)
    assert close_lost_calls(db, outbox, settings, now=NOW).closed == []

    later = NOW + dt.timedelta(minutes=211)
    assert close_lost_calls(db, outbox, settings, now=later).closed == [call.id]
    session.expire_all()
    assert (call.status, call.outcome, call.wait_seconds) == ("completed", Outcome.ANSWERED, 120)
    assert [e.detail["idle_minutes"] for e in closed_lost(session, call)] == [241]


def test_the_thresholds_are_settings(db: Database, session: Session,
                                     outbox: OutboxTelephony, settings: Settings) -> None:
    queued, talking = waiting_caller(session, 4), talking_caller(session, 61)
    patient = settings.with_overrides(lost_queued_minutes=5, lost_call_minutes=60)
    assert close_lost_calls(db, outbox, patient, now=NOW).closed == [talking.id]
    assert close_lost_calls(db, outbox, patient,
                            now=NOW + dt.timedelta(minutes=2)).closed == [queued.id]


def test_twilio_says_the_call_goes_on_so_it_stays_open(
        db: Database, session: Session, rest: TwilioTelephony, api: FakeTwilioApi,
        twilio_settings: Settings) -> None:
    call = waiting_caller(session, 30)

    report = close_lost_calls(db, rest, twilio_settings, now=NOW)

    assert (report.closed, report.still_live) == ([], 1)
    [asked] = api.requests
    assert asked.method == "GET"
    assert asked.uri.endswith(f"/Calls/{call.call_sid}.json")
    session.expire_all()
    assert call.ended_at is None and call.status == "queued"


@pytest.mark.parametrize("status", ["completed", "canceled"])
def test_twilio_says_the_call_ended_so_it_closes_with_twilios_status_and_time(
        db: Database, session: Session, rest: TwilioTelephony, api: FakeTwilioApi,
        twilio_settings: Settings, status: str) -> None:
    call = waiting_caller(session, 12)
    api.calls[call.call_sid] = {"status": status, "end_time": minutes_ago(7), "duration": "360"}

    assert close_lost_calls(db, rest, twilio_settings, now=NOW).closed == [call.id]

    session.expire_all()
    assert (call.status, call.outcome) == (status, Outcome.ABANDONED_QUEUE)
    assert call.ended_at == minutes_ago(7)
    assert call.wait_seconds == 5 * 60
    [event] = closed_lost(session, call)
    assert event.detail == {"reason": "no_event", "idle_minutes": 12, "twilio_status": status,
                            "twilio_unreachable": False}


def test_twilio_unreachable_leaves_the_call_then_closes_it_at_twice_the_setting(
        db: Database, session: Session, rest: TwilioTelephony, api: FakeTwilioApi,
        twilio_settings: Settings) -> None:
    call = waiting_caller(session, 11)
    api.fail_next = (503, 20003, "Service unavailable")
    report = close_lost_calls(db, rest, twilio_settings, now=NOW)
    assert (report.closed, report.unasked) == ([], 1)
    session.expire_all()
    assert call.ended_at is None

    api.fail_next = (503, 20003, "Service unavailable")
    later = NOW + dt.timedelta(minutes=10)
    assert close_lost_calls(db, rest, twilio_settings, now=later).closed == [call.id]
    session.expire_all()
    assert (call.status, call.outcome) == ("completed", Outcome.ABANDONED_QUEUE)
    [event] = closed_lost(session, call)
    assert event.detail == {"reason": "no_event", "idle_minutes": 21, "twilio_status": None,
                            "twilio_unreachable": True}


class TimingOut(FakeTwilioApi):
    def request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.requests.append(None)  # type: ignore[arg-type]
        raise TimeoutError("read timed out")


def test_a_twilio_time_out_is_waited_for_once_a_run(db: Database, session: Session,
                                                    twilio_settings: Settings) -> None:
    api = TimingOut()
    rest = TwilioTelephony(twilio_settings, http_client=api)
    calls = [waiting_caller(session, 25), waiting_caller(session, 15)]

    report = close_lost_calls(db, rest, twilio_settings, now=NOW)

    assert len(api.requests) == 1
    assert (report.closed, report.unasked) == ([calls[0].id], 1)


def test_two_runs_at_once_close_each_call_once(db: Database, session: Session,
                                               outbox: OutboxTelephony,
                                               settings: Settings) -> None:
    calls = [waiting_caller(session, 11 + n) for n in range(20)]
    start = threading.Barrier(2)
    reports: list[LostReport] = []

    def run() -> None:
        start.wait(timeout=60)
        reports.append(close_lost_calls(db, outbox, settings, now=NOW))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(reports) == 2
    assert sorted(i for r in reports for i in r.closed) == sorted(c.id for c in calls)
    per_call = session.execute(
        select(CallEvent.call_id, func.count()).where(CallEvent.kind == "closed_lost")
        .group_by(CallEvent.call_id)).all()
    assert sorted(per_call) == sorted((c.id, 1) for c in calls)


def test_an_event_arriving_meanwhile_keeps_the_call_open(
        db: Database, session: Session, outbox: OutboxTelephony, settings: Settings) -> None:
    call = waiting_caller(session, 11)
    open_transaction = Database.session

    def a_webhook_first(self: Database) -> AbstractContextManager[Session]:
        # The run has read its silent calls; a step lands before it closes them.
        with self.sessions() as other, other.begin():
            other.add(CallEvent(call_id=call.id, at=minutes_ago(0.5), kind="queue_key",
                                detail={}))
        return open_transaction(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Database, "session", a_webhook_first)
        report = close_lost_calls(db, outbox, settings, now=NOW)

    assert (report.closed, report.lost_race) == ([], 1)
    session.expire_all()
    assert call.ended_at is None


def test_the_scheduler_runs_it_every_minute(app: Flask, session: Session) -> None:
    spec = next(s for s in job_specs(TZ) if s.id == "calls.close_lost")
    assert isinstance(spec.trigger, IntervalTrigger)
    assert spec.trigger.interval == dt.timedelta(minutes=1)
    rt = app.extensions["helpline"]
    jobs.install(jobs.JobContext(db=rt.db, settings=rt.settings, telephony=rt.telephony))
    call = waiting_caller(session, 11)
    assert spec.func(now=NOW).closed == [call.id]
