"""Routing: the decision as one function over plain data, and passes against the database on a
fake clock (an offer rings, rings out, moves on; accept and decline race nothing)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.calls import routing
from helpline.calls.routing import Free, Waiting, plan
from helpline.config import Settings
from helpline.models import AgentStatus, Call, CallEvent, Offer, OfferState, User
from helpline.records import contacts
from helpline.telephony import Telephony, telephony_for
from tests.factories import make_call, make_user

T0 = dt.datetime(2026, 12, 6, 3, 0, tzinfo=dt.UTC)
SKILLS = {"crisis": "crisis"}


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def waiting(key: int, group: str = "general", language: str = "en", priority: int = 0,
            since: float = 0, passed: frozenset[int] = frozenset()) -> Waiting:
    return Waiting(key, group, language, priority, at(since), passed)


def free(id_: int, languages: str = "en", skills: str = "", idle: float = 0) -> Free:
    return Free(id_, frozenset(languages.split()), frozenset(skills.split()), at(idle))


def pairs(offers: list[tuple[Waiting, Free]]) -> list[tuple[int, int]]:
    return [(w.key, c.id) for w, c in offers]


# --- the decision -------------------------------------------------------------------------

def test_the_longest_idle_counselor_gets_the_longest_waiting_caller() -> None:
    offers = plan([waiting(1, since=30), waiting(2, since=10)],
                  [free(7, idle=20), free(8, idle=5)], SKILLS)
    assert pairs(offers) == [(2, 8), (1, 7)]


def test_crisis_goes_first_whatever_the_others_waited() -> None:
    offers = plan([waiting(1, since=0), waiting(2, "crisis", priority=10, since=50)],
                  [free(7, skills="crisis")], SKILLS)
    assert pairs(offers) == [(2, 7)]


def test_a_queue_skill_and_the_language_decide_who_is_eligible() -> None:
    crisis = waiting(1, "crisis", priority=10)
    spanish = waiting(2, language="es", since=1)
    offers = plan([crisis, spanish], [free(7, "en es"), free(8, "en", skills="crisis", idle=1)],
                  SKILLS)
    assert pairs(offers) == [(1, 8), (2, 7)]
    assert plan([crisis], [free(7, "en es")], SKILLS) == []  # nobody crisis-trained is free
    assert pairs(plan([crisis], [free(7)], {})) == [(1, 7)]  # a queue that asks no skill


def test_who_passed_a_caller_over_is_not_offered_it_again_while_others_are() -> None:
    offers = plan([waiting(1, passed=frozenset({7}))], [free(7), free(8, idle=9)], SKILLS)
    assert pairs(offers) == [(1, 8)]
    assert plan([waiting(1, passed=frozenset({7}))], [free(7)], SKILLS) == []


def test_one_offer_per_counselor_and_per_caller() -> None:
    offers = plan([waiting(k, since=k) for k in range(1, 6)], [free(7), free(8, idle=1)], SKILLS)
    assert pairs(offers) == [(1, 7), (2, 8)]


# --- passes against the database ----------------------------------------------------------

@pytest.fixture
def line(settings: Settings) -> Telephony:
    return telephony_for(settings)


def counselor(session: Session, idle: float = 0, **fields: object) -> User:
    fields.setdefault("languages", "en")
    fields.setdefault("status", AgentStatus.AVAILABLE)
    return make_user(session, status_since=at(idle), **fields)


def caller(session: Session, group: str = "general", since: float = 0, **fields: object) -> Call:
    fields.setdefault("language", "en")
    return make_call(session, queue_name=f"{group}-{fields['language']}", status="queued",
                     enqueued_at=at(since), started_at=at(since - 30),
                     priority=10 if group == "crisis" else 0, **fields)


def ringing(session: Session) -> list[tuple[int, int]]:
    return sorted((row.call_id, row.counselor_id) for row in session.execute(
        select(Offer.call_id, Offer.counselor_id).where(Offer.state == OfferState.RINGING)))


def test_a_pass_rings_one_counselor_per_caller(session: Session, settings: Settings) -> None:
    first, second = counselor(session, idle=0), counselor(session, idle=5)
    a, b = caller(session, since=10), caller(session, since=20)
    done = routing.route(session, settings, at(30))
    assert sorted(done.offered) == [(a.id, first.id), (b.id, second.id)]
    assert routing.route(session, settings, at(31)).offered == []  # all are ringing already
    shown = routing.ringing_for(session, first.id, at(31))
    assert shown is not None
    assert (shown.call_id, shown.waited_seconds, shown.rings_seconds_left) == (a.id, 21, 19)


def test_an_offer_that_rings_out_moves_on_and_the_counselor_becomes_away(
        session: Session, settings: Settings) -> None:
    first, second = counselor(session, idle=0), counselor(session, idle=5)
    a = caller(session, since=10)
    routing.route(session, settings, at(11))
    assert ringing(session) == [(a.id, first.id)]
    assert routing.route(session, settings, at(11 + 19)).missed == []
    done = routing.route(session, settings, at(11 + 20))
    assert done.missed == [(a.id, first.id)] and done.offered == [(a.id, second.id)]
    session.refresh(first)
    assert (first.status, first.status_reason) == (AgentStatus.AWAY, routing.MISSED_OFFER)
    kinds = session.scalars(select(CallEvent.kind).where(CallEvent.call_id == a.id)
                            .order_by(CallEvent.id)).all()
    assert kinds == ["offered", "offer_missed", "offered"]


def test_declined_goes_to_the_next_counselor_and_the_decliner_stays_available(
        session: Session, settings: Settings) -> None:
    first, second = counselor(session, idle=0), counselor(session, idle=5)
    a = caller(session)
    routing.route(session, settings, at(1))
    offer = session.scalar(select(Offer).where(Offer.counselor_id == first.id))
    assert offer is not None
    routing.decline_offer(session, offer.id, first, at(2))
    assert routing.route(session, settings, at(2)).offered == [(a.id, second.id)]
    session.refresh(first)
    assert first.status == AgentStatus.AVAILABLE
    with pytest.raises(routing.OfferGone, match="declined"):
        routing.accept_offer(session, offer.id, first, telephony_for(settings), settings, at(3))


def test_accept_assigns_the_call_and_wrap_up_returns_the_status_before(
        session: Session, settings: Settings, line: Telephony) -> None:
    first = counselor(session)
    a = caller(session, since=0)
    routing.route(session, settings, at(40))
    offer = session.scalar(select(Offer).where(Offer.counselor_id == first.id))
    assert offer is not None
    call = routing.accept_offer(session, offer.id, first, line, settings, at(44))
    assert (call.id, call.counselor_id, call.status, call.wait_seconds) == \
        (a.id, first.id, "in-progress", 44)
    assert first.status == AgentStatus.ON_CALL
    assert routing.route(session, settings, at(100)).missed == []  # accepted: cannot ring out
    event = session.scalar(select(CallEvent).where(CallEvent.kind == "assigned"))
    assert event is not None and event.detail["ring_seconds"] == 4
    record = contacts.open_contact_for_call(session, first, call)
    contacts.set_status(session, first, AgentStatus.AWAY)  # chosen mid-call: kept for later
    assert first.status == AgentStatus.ON_CALL
    contacts.wrap_up_anyway(session, record, first, "test: nothing to record", at(200))
    assert first.status == AgentStatus.AWAY


def test_offers_end_when_the_caller_hangs_up_or_the_counselor_goes_offline(
        session: Session, settings: Settings) -> None:
    first, second = counselor(session), counselor(session, idle=1)
    a, b = caller(session), caller(session, since=1)
    routing.route(session, settings, at(2))
    assert len(ringing(session)) == 2
    a.status = "completed"
    second.status = AgentStatus.OFFLINE
    session.flush()
    done = routing.route(session, settings, at(3))
    assert done.withdrawn == 2
    assert ringing(session) == [(b.id, first.id)]


def test_nobody_away_offline_or_unskilled_is_offered(session: Session,
                                                     settings: Settings) -> None:
    counselor(session, status=AgentStatus.AWAY, skills="crisis")
    make_user(session, status=AgentStatus.OFFLINE, languages="en", skills="crisis")
    counselor(session, languages="es", skills="crisis")
    counselor(session)  # has no crisis skill
    caller(session, "crisis")
    caller(session, language="en", group="general").status = "completed"
    session.flush()
    assert routing.route(session, settings, at(5)).offered == []


def test_the_database_refuses_a_second_ringing_offer(session: Session,
                                                     settings: Settings) -> None:
    first, second = counselor(session), counselor(session, idle=1)
    a = caller(session)
    assert routing._ring(session, a.id, first.id, at(1), 20)
    assert not routing._ring(session, a.id, second.id, at(1), 20)  # the caller rings already
    b = caller(session, since=1)
    assert not routing._ring(session, b.id, first.id, at(1), 20)  # the counselor rings already
    assert ringing(session) == [(a.id, first.id)]
