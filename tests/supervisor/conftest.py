"""Data sets for the supervisor console: a hand-counted week of calls."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from helpline.models import (
    CenterService,
    Consent,
    FollowUp,
    Referral,
    TreatmentCenter,
    User,
)

# Signed-in staff through the real sign-in pages: the dashboard's fixtures.
from helpline.records.contacts import wrap_up
from tests.dashboard.conftest import admin, counselor, staff_factory, supervisor  # noqa: F401
from tests.factories import make_call, make_contact, make_user

NEW_YORK = ZoneInfo("America/New_York")


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A New York wall-clock time as an aware UTC datetime."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=NEW_YORK).astimezone(dt.UTC)


def seconds(n: int) -> dt.timedelta:
    return dt.timedelta(seconds=n)


@dataclass
class Week:
    """The week of Monday 2026-01-05 .. Sunday 2026-01-11 (New York), counted by hand."""

    start: dt.date
    end: dt.date
    counselor: User


def _answered(session: Session, at: dt.datetime, *, wait: int, talk: int, **fields: object):
    enqueued = at + seconds(30)
    answered = enqueued + seconds(wait)
    return make_call(session, started_at=at, enqueued_at=enqueued, answered_at=answered,
                     ended_at=answered + seconds(talk), wait_seconds=wait, talk_seconds=talk,
                     outcome="answered", status="completed", **fields)


def _followup(session: Session, consent: Consent, contact_id: int, state: str,
              created: dt.datetime, *, due: dt.datetime | None = None,
              outcome: str | None = None) -> FollowUp:
    fu = FollowUp(consent_id=consent.id, contact_id=contact_id, kind="reminder", channel="call",
                  source="counselor", state=state, timezone="America/New_York", due_at=due,
                  outcome=outcome, created_at=created, updated_at=created)
    session.add(fu)
    return fu


@pytest.fixture
def week(session: Session) -> Week:
    worker = make_user(session)
    # 1, 2: Monday 09:15 and 09:40, answered after 20 s and 50 s.
    c1 = _answered(session, local(2026, 1, 5, 9, 15), wait=20, talk=300, need="self",
                   language="en", queue_name="self-en")
    c2 = _answered(session, local(2026, 1, 5, 9, 40), wait=50, talk=600, need="self",
                   language="es", queue_name="self-es")
    # 3: Tuesday 23:30 (Wednesday in UTC), abandoned in the queue after 90 s.
    make_call(session, started_at=local(2026, 1, 6, 23, 30), need="treatment", language="en",
              queue_name="treatment-en", outcome="abandoned_queue", wait_seconds=90)
    # 4: Saturday 02:05, warm transfer to the crisis line (no queue).
    make_call(session, started_at=local(2026, 1, 10, 2, 5), need="crisis", language="en",
              outcome="crisis_transfer")
    # 5: Sunday 14:00, answered after 100 s.
    c5 = _answered(session, local(2026, 1, 11, 14, 0), wait=100, talk=200, need="groups",
                   language="en", queue_name="groups-en")
    # 6: Sunday 14:30, hung up in the menu before choosing a need.
    make_call(session, started_at=local(2026, 1, 11, 14, 30), language="en",
              outcome="abandoned_menu")
    # 7: Sunday 23:30 (Monday in UTC), asked for a callback after 45 s.
    make_call(session, started_at=local(2026, 1, 11, 23, 30), need="self", language="en",
              queue_name="self-en", outcome="callback", wait_seconds=45)
    # Outside the week: Sunday 4 Jan 23:59 (5 Jan in UTC) and Monday 12 Jan 00:30.
    before = _answered(session, local(2026, 1, 4, 23, 59), wait=5, talk=60, need="self",
                       language="en", queue_name="self-en")
    make_call(session, started_at=local(2026, 1, 12, 0, 30), need="self", language="en",
              queue_name="self-en", outcome="abandoned_queue", wait_seconds=10)

    k1 = make_contact(session, worker, c1, suicide_risk="low", overdose_risk="none",
                      created_at=c1.answered_at)
    wrap_up(session, k1, worker, now=c1.ended_at + seconds(120))
    k2 = make_contact(session, worker, c2, suicide_risk="high", overdose_risk="moderate",
                      created_at=c2.answered_at)
    wrap_up(session, k2, worker, now=c2.ended_at + seconds(60))
    make_contact(session, worker, c5, suicide_risk="none", overdose_risk="none",
                 created_at=c5.answered_at)
    k_before = make_contact(session, worker, before, suicide_risk="imminent",
                            overdose_risk="imminent", created_at=before.answered_at,
                            crisis_steps=["called_911"])
    wrap_up(session, k_before, worker, now=before.ended_at + seconds(900))

    center = TreatmentCenter(name="Harbor Recovery (fictional)")
    session.add(center)
    session.flush()
    session.add_all([
        CenterService(center_id=center.id, facet="care", code="OP", label="Outpatient",
                      code_list="test"),
        CenterService(center_id=center.id, facet="care", code="DT", label="Detox",
                      code_list="test"),
        CenterService(center_id=center.id, facet="payment", code="MD", label="Medicaid",
                      code_list="test"),
    ])
    for contact, kind, target in ((k1, "center", center.id), (k1, "group", 7),
                                  (k2, "center", center.id), (k2, "resource", 3),
                                  (k_before, "center", center.id)):
        session.add(Referral(contact_id=contact.id, kind=kind, target_id=target,
                             target_name="Entry", created_at=contact.created_at))

    consent = Consent(scope="call", purpose="followup", wording="May we call you back?",
                      recorded_via="counselor")
    session.add(consent)
    session.flush()
    in_week = local(2026, 1, 7, 12)
    _followup(session, consent, k1.id, "done", in_week, due=in_week,
              outcome="reached_in_treatment")
    _followup(session, consent, k1.id, "scheduled", in_week, due=in_week)
    _followup(session, consent, k2.id, "requested", in_week)
    _followup(session, consent, k2.id, "cancelled", in_week)
    _followup(session, consent, k2.id, "done", in_week, due=in_week, outcome="unreachable")
    _followup(session, consent, k_before.id, "done", local(2026, 1, 4, 12), due=in_week,
              outcome="reached_other")
    session.commit()
    return Week(start=dt.date(2026, 1, 5), end=dt.date(2026, 1, 11), counselor=worker)

