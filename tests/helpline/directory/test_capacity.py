"""Treatment capacity: what counselors learn on calls, filtered on and shown with its age."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.directory import capacity
from helpline.directory.search import nearest_centers, search_centers
from helpline.directory.vocabulary import UnknownOffering
from helpline.models import AuditEvent
from tests.factories import make_user
from tests.factories.directory import make_center

NOW = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)


def test_a_counselor_confirms_capacity_and_it_is_dated_signed_and_audited(
        session: Session) -> None:
    counselor = make_user(session, "counselor", username="dana")
    center = make_center(session, name="Demo Cedar")
    capacity.confirm_capacity(session, center, capacity.Capacity(True, True, 14, False),
                              by=counselor, now=NOW)
    assert (center.accepting_patients, center.waitlist, center.waitlist_days,
            center.same_day_moud) == (True, True, 14, False)
    assert (center.capacity_confirmed_at, center.capacity_confirmed_by) == (NOW, "dana")
    event = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "directory.center.capacity")).one()
    assert (event.actor, event.record_id) == ("dana", str(center.id))
    assert event.detail == {"accepting_patients": True, "waitlist": True, "waitlist_days": 14,
                            "same_day_moud": False}


def test_the_summary_says_what_is_known_and_how_long_ago_it_was_confirmed(
        session: Session) -> None:
    center = make_center(session)
    assert capacity.summary(center, NOW) == "Capacity not known"
    center.accepting_patients, center.waitlist, center.waitlist_days = True, True, 10
    center.same_day_moud = True
    center.capacity_confirmed_at = NOW - dt.timedelta(days=3, hours=2)
    assert capacity.summary(center, NOW) == ("Accepting new patients · waitlist of about 10 "
                                             "days · same-day MOUD · confirmed 3 days ago")
    center.capacity_confirmed_at = NOW - dt.timedelta(hours=5)
    center.waitlist = False
    assert capacity.summary(center, NOW).endswith("no waitlist · same-day MOUD · "
                                                  "confirmed today")
    center.capacity_confirmed_at = NOW - dt.timedelta(days=1)
    assert capacity.confirmed_phrase(center, NOW) == "confirmed 1 day ago"


@pytest.mark.parametrize(("given", "message"), [
    (capacity.Capacity(waitlist=False, waitlist_days=5), "without a waitlist"),
    (capacity.Capacity(waitlist=True, waitlist_days=-1), "0 to 730 days"),
])
def test_an_impossible_capacity_is_refused(given: capacity.Capacity, message: str) -> None:
    with pytest.raises(capacity.CapacityError, match=message):
        capacity.checked(given)


def test_a_waitlist_length_alone_means_there_is_a_waitlist() -> None:
    assert capacity.checked(capacity.Capacity(waitlist_days=21)).waitlist is True


def test_capacity_filters_combine_and_unknown_counts_as_no(session: Session) -> None:
    both = make_center(session, name="Demo Both", accepting_patients=True, same_day_moud=True,
                       waitlist=False)
    make_center(session, name="Demo Accepting Only", accepting_patients=True,
                same_day_moud=False)
    make_center(session, name="Demo Unknown")
    make_center(session, name="Demo Full", accepting_patients=False, waitlist=True)
    names = lambda **kw: [h.center.name for h in search_centers(  # noqa: E731
        session, zip_code="10001", **kw).items]
    assert sorted(names(capacity=("accepting",))) == ["Demo Accepting Only", "Demo Both"]
    assert names(capacity=("accepting", "same_day")) == [both.name]
    assert names(capacity=("no_waitlist",)) == [both.name]
    with pytest.raises(UnknownOffering, match="capacity"):
        names(capacity=("soonish",))


def test_the_ivr_locator_can_ask_for_centers_accepting_new_patients(session: Session) -> None:
    make_center(session, name="Demo Near But Full", zip_code="10001",
                accepting_patients=False)
    far = make_center(session, name="Demo Farther Open", zip_code="10301",
                      accepting_patients=True)
    hits = nearest_centers(session, "10001", limit=1, capacity=("accepting",))
    assert [h.center.id for h in hits] == [far.id]
