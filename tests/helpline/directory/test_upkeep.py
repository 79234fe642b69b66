"""Keeping entries right: edits with clear errors, verification, the six-month list,
meetings and resources."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.directory import checks, meetings, resources, upkeep
from helpline.models import AuditEvent
from tests.factories import make_user
from tests.factories.directory import make_center

NOW = dt.datetime(2026, 8, 31, 12, 0, tzinfo=dt.UTC)


def test_a_new_center_is_placed_at_its_zip_centre_and_gets_an_id_of_its_own(
        session: Session) -> None:
    supervisor = make_user(session, "supervisor")
    center = upkeep.save_center(session, None, upkeep.CenterInput(
        name="Demo Typed Center", street1="1 Demo St", zip_code="59718",
        phone="555-555-0140 x2", offerings={"care": ["DT"], "payment": ["MD", "SS"]}),
        by=supervisor)
    assert center.source == "manual"
    uuid.UUID(center.source_id or "")
    assert (center.state, center.approximate_location) == ("MT", True)
    assert center.codes("payment") == ["MD", "SS"]
    event = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "directory.center.create")).one()
    assert event.record_id == str(center.id)


def test_every_mistake_in_the_form_is_named_beside_its_field(session: Session) -> None:
    supervisor = make_user(session, "supervisor")
    with pytest.raises(checks.EntryInvalid) as caught:
        upkeep.save_center(session, None, upkeep.CenterInput(
            name="", zip_code="00000", state="New York", phone="call us",
            website="javascript:alert(1)", latitude="40.7", longitude="",
            offerings={"care": ["XX"]}), by=supervisor)
    errors = caught.value.errors
    assert set(errors) == {"name", "zip_code", "state", "phone", "website", "latitude",
                           "offer_care"}
    assert errors["zip_code"] == "00000 is not a known US ZIP code."
    assert errors["name"] == "Name is required."


def test_an_edit_changes_only_what_changed_and_says_so_in_the_audit(session: Session) -> None:
    supervisor = make_user(session, "supervisor")
    center = make_center(session, name="Demo Edited", care=("detox",), languages=("es",),
                         latitude=40.75, longitude=-73.99, state="NY")
    data = upkeep.CenterInput.of(center)
    data.phone = "555-555-0177"
    data.offerings = {**data.offerings, "care": ["DT", "OP"]}
    upkeep.save_center(session, center, data, by=supervisor)
    assert center.codes("care") == ["DT", "OP"]
    assert center.codes("language") == ["es"]
    assert (center.latitude, center.longitude) == (40.75, -73.99)
    event = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "directory.center.update")).one()
    assert event.detail == {"fields": ["offerings", "phone"]}


def test_mark_verified_records_the_day_and_who(session: Session) -> None:
    supervisor = make_user(session, "supervisor", username="lee")
    center = make_center(session)
    upkeep.mark_verified(session, center, by=supervisor, now=NOW)
    assert (center.last_verified_at, center.verified_by) == (NOW, "lee")
    assert session.scalars(select(AuditEvent.action)).all()[-1] == "directory.center.verify"


def test_six_months_back_is_by_the_calendar() -> None:
    assert upkeep.months_before(NOW, 6) == dt.datetime(2026, 2, 28, 12, 0, tzinfo=dt.UTC)
    assert upkeep.months_before(dt.datetime(2026, 3, 15, tzinfo=dt.UTC), 6) == \
        dt.datetime(2025, 9, 15, tzinfo=dt.UTC)


def test_the_six_month_list_shows_never_verified_then_oldest_and_not_the_fresh_ones(
        session: Session) -> None:
    old = make_center(session, name="Demo Old",
                      last_verified_at=NOW - dt.timedelta(days=400), verified_by="lee")
    older_edge = make_center(session, name="Demo Just Stale",
                             last_verified_at=dt.datetime(2026, 2, 27, tzinfo=dt.UTC))
    make_center(session, name="Demo Fresh", last_verified_at=NOW - dt.timedelta(days=30))
    make_center(session, name="Demo Just Fresh",
                last_verified_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    never = make_center(session, name="Demo Never")
    make_center(session, name="Demo Closed Never", active=False)
    page = upkeep.unverified_centers(session, now=NOW)
    assert [c.id for c in page.items] == [never.id, old.id, older_edge.id]
    assert page.total == 3
    assert [c.id for c in upkeep.unverified_centers(session, now=NOW, state="CA").items] == []


def test_a_meeting_is_in_person_at_a_zip_or_online_with_a_link(session: Session) -> None:
    supervisor = make_user(session, "supervisor")
    in_person = meetings.save_group(session, None, meetings.GroupInput(
        name="Demo Tuesday NA", fellowship="NA", day="2", time="19:30",
        street="5 Demo Hall Rd", zip_code="59718", language="en"), by=supervisor)
    assert (in_person.timezone, in_person.city, in_person.state) == (
        "America/Denver", "Bozeman", "MT")
    assert in_person.approximate_location and in_person.latitude is not None
    online = meetings.save_group(session, None, meetings.GroupInput(
        name="Demo SMART en línea", fellowship="SMART", twelve_step=False, day="6",
        time="10:00", timezone="America/Chicago", mode="online",
        online_url="https://meetings.example.org/demo", language="es"), by=supervisor)
    assert online.online and online.latitude is None and online.zip_code == ""
    with pytest.raises(checks.EntryInvalid) as caught:
        meetings.save_group(session, None, meetings.GroupInput(
            name="Demo Broken", fellowship="Book club", day="9", time="7pm",
            timezone="Mars/Olympus", mode="online", online_url="http://insecure.example"),
            by=supervisor)
    assert set(caught.value.errors) == {"fellowship", "day", "time", "timezone", "online_url"}


def test_a_resource_needs_a_link_or_a_way_to_get_it(session: Session) -> None:
    supervisor = make_user(session, "supervisor")
    with pytest.raises(checks.EntryInvalid) as caught:
        resources.save_resource(session, None, resources.ResourceInput(
            title="Demo Workbook", kind="book"), by=supervisor)
    assert caught.value.errors == {"link": "Give a link, or say how to get it."}
    book = resources.save_resource(session, None, resources.ResourceInput(
        title="Demo Workbook", kind="book", how_to_get="Ask your counselor."), by=supervisor)
    assert book.source == "manual"
    actions = session.scalars(select(AuditEvent.action)).all()
    assert actions == ["directory.resource.create"]
