"""Callbacks booked from the queue are contacts waiting: offered in the caller's place, accepted
as a bridged callback that rings the counselor first, delivered exactly once whoever races."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard.offers import offer_state
from helpline.calls import records, routing
from helpline.calls.routing import CALLBACK, Free, Waiting, plan
from helpline.config import Settings
from helpline.db import Database
from helpline.followups import claims, delivery, lifecycle, on_record
from helpline.followups.delivery import DeliveryReport, deliver_due_followups
from helpline.models import AgentStatus, Call, CallEvent, Offer, OfferState, OutboxMessage, User
from helpline.models.followups import FollowUp, FollowUpOutcome, FollowUpState
from helpline.telephony import OutboxTelephony
from tests.factories import make_call, make_user
from tests.fixtures.followups import race

# 15:00 UTC on a Tuesday: 10 am in Chicago, a time a caller may be called back.
T0 = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)
SKILLS = {"crisis": "crisis"}
CALLBACK_NUMBER = "+13125550188"


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def counselor(session: Session, idle: float = 0, **fields: Any) -> User:
    n = session.scalar(select(func.count(User.id))) or 0
    fields.setdefault("languages", "en")
    fields.setdefault("status", AgentStatus.AVAILABLE)
    fields.setdefault("phone", f"+1312555{n:04d}")
    return make_user(session, status_since=at(idle), **fields)


def caller(session: Session, group: str = "general", since: float = 0, **fields: Any) -> Call:
    fields.setdefault("language", "en")
    return make_call(session, queue_name=f"{group}-{fields['language']}", status="queued",
                     enqueued_at=at(since), started_at=at(since - 30), zip_code="60601",
                     priority=10 if group == "crisis" else 0, **fields)


def book_callback(session: Session, settings: Settings, call: Call, when: float) -> FollowUp:
    """The caller presses for a callback while holding (the IVR's journal op)."""
    records.record_callback(session, call.call_sid, CALLBACK_NUMBER, settings=settings,
                            at=at(when).isoformat())
    followup = session.scalar(select(FollowUp).where(FollowUp.call_id == call.id))
    assert followup is not None
    session.commit()
    return followup


def offer_of(session: Session, followup: FollowUp) -> Offer:
    session.expire_all()
    offer = session.scalar(select(Offer).where(Offer.followup_id == followup.id,
                                               Offer.state == OfferState.RINGING))
    assert offer is not None
    return offer


def calls_placed(session: Session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "call")
                                .order_by(OutboxMessage.id)))


@pytest.fixture
def line(settings: Settings) -> OutboxTelephony:
    return OutboxTelephony(settings)


@pytest.fixture
def routed(settings: Settings) -> Settings:
    """The settings of a deployment where routing runs (the scheduler then leaves queue
    callbacks to it)."""
    return dataclasses.replace(settings, routing_in_process=True)


# --- the decision -------------------------------------------------------------------------

def test_a_callback_is_a_contact_waiting_in_the_place_its_caller_held() -> None:
    calls = [Waiting(1, "general", "en", 0, at(10)), Waiting(2, "general", "en", 0, at(20))]
    booked = Waiting(1, "general", "en", 0, at(0), kind=CALLBACK)
    assert booked.ident != calls[0].ident  # the same id, another contact
    free = [Free(7, frozenset({"en"}), frozenset(), at(0))]
    [(first, _)] = plan([*calls, booked], free, SKILLS)
    assert first is booked
    crisis = Waiting(3, "crisis", "en", 10, at(50))
    [(first, _)] = plan([booked, crisis], [Free(7, frozenset({"en"}), frozenset({"crisis"}),
                                                at(0))], SKILLS)
    assert first is crisis  # priority first, as for calls


# --- passes against the database ----------------------------------------------------------

def test_a_callback_booked_ahead_of_two_holding_callers_is_offered_before_them(
        session: Session, settings: Settings) -> None:
    booked_by = caller(session, since=0)
    behind = [caller(session, since=10), caller(session, since=20)]
    followup = book_callback(session, settings, booked_by, when=40)
    first = counselor(session, idle=0)
    session.commit()
    done = routing.route(session, settings, at(45))
    assert done.offered_callbacks == [(followup.id, first.id)] and done.offered == []
    second, third = counselor(session, idle=1), counselor(session, idle=2)
    done = routing.route(session, settings, at(46))
    assert done.offered == [(behind[0].id, second.id), (behind[1].id, third.id)]
    shown = routing.ringing_for(session, first.id, at(50))
    assert shown is not None
    assert (shown.kind, shown.followup_id, shown.call_id, shown.queue_name, shown.language,
            shown.booked_seconds, shown.waited_seconds, shown.rings_seconds_left) == \
        (CALLBACK, followup.id, booked_by.id, "general-en", "en", 10, 50, 15)
    kinds = session.scalars(select(CallEvent.kind).where(CallEvent.call_id == booked_by.id)
                            .order_by(CallEvent.id)).all()
    assert kinds[-2:] == ["callback_requested", "callback_offered"]


def test_the_banner_says_it_is_a_callback(app: Flask, session: Session,
                                          settings: Settings) -> None:
    book_callback(session, settings, caller(session, "crisis", since=0), when=30)
    first = counselor(session, skills="crisis")
    session.commit()
    assert routing.route(session, settings, at(31)).offered_callbacks
    session.commit()
    with app.test_request_context():
        offer = offer_state(session, first.id)["offer"]
    assert offer["kind"] == "callback" and offer["crisis"] is True
    assert offer["queue"] and offer["language"] and offer["booked_seconds"] > 0


def test_accepting_rings_the_counselor_first_and_delivers_once(
        session: Session, db: Database, settings: Settings, line: OutboxTelephony) -> None:
    followup = book_callback(session, settings, caller(session), when=30)
    first = counselor(session)
    session.commit()
    routing.route(session, settings, at(31))
    offer = offer_of(session, followup)
    taken = routing.accept_offer(session, offer.id, first, line, settings, at(35))
    assert isinstance(taken, FollowUp) and taken.id == followup.id
    session.commit()
    [leg] = calls_placed(session)
    assert leg.to_number == first.phone and leg.purpose == "followup_bridged_callback"
    assert leg.twiml_url is not None and f"followups/{followup.id}/answer" in leg.twiml_url
    session.refresh(followup)
    assert (followup.state, followup.bridged_to_id, followup.attempts) == \
        (FollowUpState.AWAITING_RESULT, first.id, 1)
    session.refresh(offer)
    assert offer.state == OfferState.ACCEPTED
    # Nothing more: neither another pass nor the scheduler, with routing on or off.
    done = routing.route(session, settings, at(36))
    session.commit()
    assert not done.offered_callbacks
    for run in (settings, dataclasses.replace(settings, routing_in_process=True)):
        assert deliver_due_followups(db, line, run, now=at(40)).delivered == []
    assert len(calls_placed(session)) == 1
    # A counselor on a callback is offered no caller meanwhile.
    caller(session, since=50)
    session.commit()
    assert routing.route(session, settings, at(60)).offered == []
    with pytest.raises(routing.OfferGone):
        routing.accept_offer(session, offer.id, first, line, settings, at(37))


def test_declined_or_rung_out_it_goes_to_the_next_counselor(
        session: Session, settings: Settings) -> None:
    followup = book_callback(session, settings, caller(session), when=10)
    first, second, third = (counselor(session, idle=i) for i in range(3))
    session.commit()
    routing.route(session, settings, at(11))
    offers = {o.counselor_id for o in session.scalars(
        select(Offer).where(Offer.state == OfferState.RINGING))}
    assert offers == {first.id}
    routing.decline_offer(session, offer_of(session, followup).id, first, at(12))
    assert routing.route(session, settings, at(12)).offered_callbacks == \
        [(followup.id, second.id)]
    done = routing.route(session, settings, at(12 + settings.ring_timeout_seconds))
    assert done.missed_callbacks == [(followup.id, second.id)]
    assert done.offered_callbacks == [(followup.id, third.id)]
    session.refresh(first)
    session.refresh(second)
    assert first.status == AgentStatus.AVAILABLE
    assert (second.status, second.status_reason) == (AgentStatus.AWAY, routing.MISSED_OFFER)
    session.refresh(followup)
    assert followup.state == FollowUpState.SCHEDULED  # still the caller's, still due


def test_nobody_accepts_it_stays_open_for_supervisors_and_the_scheduler_never_takes_it(
        session: Session, db: Database, routed: Settings, line: OutboxTelephony) -> None:
    followup = book_callback(session, routed, caller(session), when=0)
    counselor(session)  # on the floor but never answers
    session.commit()
    for minute in range(0, 20, 2):
        routing.route(session, routed, at(minute * 60))
        session.commit()
        report = deliver_due_followups(db, line, routed, now=at(minute * 60 + 1))
        assert report.delivered == [] and report.waiting_for_counselor == 1
    assert calls_placed(session) == []
    session.refresh(followup)
    assert followup.state == FollowUpState.SCHEDULED
    assert [c.followup.id for c in on_record.queue_callbacks(session)] == [followup.id]
    assert delivery.escalate_overdue(session, line, routed, now=at(20 * 60)) == 1


def test_routing_leaves_a_callback_the_follow_up_rules_hold_back(
        session: Session, db: Database, routed: Settings, line: OutboxTelephony) -> None:
    withdrawn = book_callback(session, routed, caller(session), when=0)
    night = book_callback(session, routed, caller(session, since=1), when=1)
    counselor(session)
    session.commit()
    lifecycle.withdraw_consent(session, withdrawn.consent, by=None, now=at(2))
    session.commit()
    late = T0.replace(hour=4)  # 10 pm in Chicago: quiet hours
    night.due_at = late
    session.commit()
    assert routing.route(session, routed, late).offered_callbacks == []
    session.commit()
    report = deliver_due_followups(db, line, routed, now=late)
    assert report.deferred == 1 and report.delivered == []
    session.refresh(night)
    assert night.due_at is not None and night.due_at > late
    session.refresh(withdrawn)
    assert withdrawn.outcome == FollowUpOutcome.CONSENT_WITHDRAWN


def test_a_callback_the_scheduler_took_first_is_not_delivered_again_on_accept(
        session: Session, db: Database, settings: Settings, line: OutboxTelephony) -> None:
    """Routing off in the scheduler's process (a mixed deployment): whoever claims first."""
    followup = book_callback(session, settings, caller(session), when=0)
    first, _other = counselor(session, idle=0), counselor(session, idle=1)
    session.commit()
    routing.route(session, settings, at(1))
    session.commit()
    offer = offer_of(session, followup)
    report = deliver_due_followups(db, line, settings, now=at(2))
    assert report.delivered == [followup.id]  # to the other counselor: the first is ringing
    with pytest.raises(routing.OfferGone, match="already being made"):
        routing.accept_offer(session, offer.id, first, line, settings, at(3))
    session.commit()
    assert len(calls_placed(session)) == 1
    session.refresh(offer)
    assert offer.state == OfferState.WITHDRAWN


def test_a_crash_between_claim_and_call_is_settled_and_offered_again(
        session: Session, db: Database, routed: Settings, line: OutboxTelephony) -> None:
    followup = book_callback(session, routed, caller(session), when=0)
    first = counselor(session)
    session.commit()
    # The accepting process claimed it and died before calling anyone.
    assert delivery.claim_for_counselor(session, followup.id, first.id, routed, at(1),
                                        DeliveryReport())
    session.commit()
    assert routing.route(session, routed, at(2)).offered_callbacks == []
    session.commit()
    later = at(2 + routed.followup_claim_seconds)
    report = deliver_due_followups(db, line, routed, now=later)
    assert report.retaken == 1 and report.delivered == []
    assert routing.route(session, routed, later).offered_callbacks == [(followup.id, first.id)]
    taken = routing.accept_offer(session, offer_of(session, followup).id, first, line, routed,
                                 later + dt.timedelta(seconds=1))
    assert isinstance(taken, FollowUp)
    assert len(calls_placed(session)) == 1
    session.refresh(followup)
    assert followup.attempts == 1 and followup.state == FollowUpState.AWAITING_RESULT
    assert claims.intents_for(session, [followup.id]) == {}


# --- racing for real --------------------------------------------------------------------

def _accept_in(db: Database, offer_id: int, counselor_id: int, line: OutboxTelephony,
               settings: Settings, now: dt.datetime) -> DeliveryReport:
    """Accept in a process of its own; a report of what it delivered."""
    report = DeliveryReport()
    with db.sessions() as session:
        user = session.get_one(User, counselor_id)
        try:
            taken = routing.accept_offer(session, offer_id, user, line, settings, now)
        except routing.OfferGone:
            session.commit()
            report.lost_race += 1
            return report
        session.commit()
        report.delivered.append(taken.id)
    return report


def test_two_racing_accepts_deliver_once(session: Session, routed: Settings,
                                         line: OutboxTelephony) -> None:
    followup = book_callback(session, routed, caller(session), when=0)
    first = counselor(session)
    session.commit()
    routing.route(session, routed, at(1))
    session.commit()
    offer_id = offer_of(session, followup).id
    reports = race(routed, 4, lambda db: _accept_in(db, offer_id, first.id, line, routed, at(2)))
    assert sorted(len(r.delivered) for r in reports) == [0, 0, 0, 1]
    assert len(calls_placed(session)) == 1


@pytest.mark.parametrize("routing_on", [True, False])
def test_an_accept_racing_scheduler_runs_delivers_once(
        session: Session, settings: Settings, line: OutboxTelephony, routing_on: bool) -> None:
    run = dataclasses.replace(settings, routing_in_process=routing_on)
    followups = [book_callback(session, run, caller(session, since=i), when=i)
                 for i in range(3)]
    takers = [counselor(session, idle=i) for i in range(3)]
    for i in range(3):  # others free for the scheduler to pick, when routing is off
        counselor(session, idle=10 + i)
    session.commit()
    routing.route(session, run, at(5))
    session.commit()
    offers = [offer_of(session, f).id for f in followups]
    assert [o.counselor_id for o in session.scalars(
        select(Offer).where(Offer.id.in_(offers)).order_by(Offer.id))] == [c.id for c in takers]
    barrier = threading.Barrier(len(offers) + 2)
    reports: list[DeliveryReport] = []
    errors: list[BaseException] = []

    def worker(job: int) -> None:
        db = Database(run.database_url)
        try:
            barrier.wait()
            if job < len(offers):
                reports.append(_accept_in(db, offers[job], takers[job].id, line, run, at(6)))
            else:
                reports.append(deliver_due_followups(db, line, run, now=at(6)))
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=worker, args=(job,)) for job in range(len(offers) + 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    delivered = sorted(i for r in reports for i in r.delivered)
    assert delivered == sorted(f.id for f in followups)  # each once, by whoever won
    placed = calls_placed(session)
    assert len(placed) == 3
    session.expire_all()
    rung = session.scalars(select(FollowUp.bridged_to_id)).all()
    assert len(set(rung)) == 3  # three different counselors
    if routing_on:
        assert set(rung) == {c.id for c in takers}


def test_a_callback_a_supervisor_assigned_rings_its_assignee_through_the_scheduler(
        session: Session, db: Database, routed: Settings, line: OutboxTelephony) -> None:
    followup = book_callback(session, routed, caller(session), when=0)
    counselor(session, idle=0)  # free longest, but not the assignee
    assignee = counselor(session, idle=5)
    lifecycle.assign(session, followup, assignee, by=make_user(session, "supervisor"), now=at(1))
    session.commit()
    assert routing.route(session, routed, at(2)).offered_callbacks == []
    session.commit()
    assert deliver_due_followups(db, line, routed, now=at(3)).delivered == [followup.id]
    [leg] = calls_placed(session)
    assert leg.to_number == assignee.phone


def test_the_router_sees_a_callback_to_route_only_with_someone_free(
        session: Session, routed: Settings) -> None:
    from helpline.app.router import work_to_do

    book_callback(session, routed, caller(session), when=0)
    assert not work_to_do(session, routed, at(1))
    counselor(session)
    session.commit()
    assert work_to_do(session, routed, at(1))


def test_a_declined_callback_offer_says_so_when_accepted_after(
        session: Session, settings: Settings, line: OutboxTelephony) -> None:
    followup = book_callback(session, settings, caller(session), when=0)
    first = counselor(session)
    session.commit()
    routing.route(session, settings, at(1))
    offer = offer_of(session, followup)
    routing.decline_offer(session, offer.id, first, at(2))
    with pytest.raises(routing.OfferGone, match="You declined that callback"):
        routing.accept_offer(session, offer.id, first, line, settings, at(3))
