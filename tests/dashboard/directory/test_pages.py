"""The directory's pages: everyone searches and confirms capacity, supervisors and admins edit
and verify, a counselor who tries to edit is refused, and every change is audited."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.db import utcnow
from helpline.models import AuditEvent, Resource, SupportGroup, TreatmentCenter, User
from helpline.records import contacts
from tests.factories import make_call
from tests.factories.directory import make_center, make_group, make_resource


def fresh(session: Session, center: TreatmentCenter) -> TreatmentCenter:
    session.expire_all()
    got = session.get(TreatmentCenter, center.id)
    assert got is not None
    return got


def actions(session: Session) -> list[str]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


@pytest.fixture
def center(session: Session) -> TreatmentCenter:
    made = make_center(session, name="Demo Harbor Recovery", latitude=40.751, longitude=-73.99,
                       care=("detox",), payment=("medicaid",), state="NY",
                       phone="555-555-0142")
    session.commit()
    return made


def test_a_counselor_searches_the_directory_by_zip_and_filters(counselor_client, session, center):
    make_center(session, name="Demo Outpatient Only", care=("outpatient",))
    session.commit()
    page = counselor_client.get("/directory?zip=10001&miles=25&care=DT&language=&text=")
    assert page.status_code == 200
    assert b"Demo Harbor Recovery" in page.data
    assert b"Demo Outpatient Only" not in page.data
    assert b"1 center within 25 miles of 10001" in page.data
    assert b"Capacity not known" in page.data


def test_an_unknown_zip_is_said_plainly(counselor_client):
    page = counselor_client.get("/directory?zip=00000")
    assert page.status_code == 400
    assert b"00000 is not a known US ZIP code." in page.data


def test_a_counselor_confirms_capacity_learned_on_a_call(counselor_client, session, center):
    resp = counselor_client.post(f"/directory/centers/{center.id}/capacity", {
        "accepting_patients": "yes", "waitlist": "yes", "waitlist_days": "14",
        "same_day_moud": "no"})
    assert resp.status_code == 302
    got = fresh(session, center)
    assert (got.accepting_patients, got.waitlist, got.waitlist_days, got.same_day_moud) == (
        True, True, 14, False)
    assert got.capacity_confirmed_by == counselor_client.username
    assert actions(session)[-1] == "directory.center.capacity"
    page = counselor_client.get(f"/directory/centers/{center.id}")
    assert b"Accepting new patients \xc2\xb7 waitlist of about 14 days" in page.data
    assert b"confirmed today" in page.data


def test_a_bad_capacity_is_refused_with_a_reason(counselor_client, session, center):
    resp = counselor_client.post(f"/directory/centers/{center.id}/capacity", {
        "waitlist": "no", "waitlist_days": "30"})
    assert resp.status_code == 422
    assert b"without a waitlist" in resp.data
    assert fresh(session, center).capacity_confirmed_at is None


@pytest.mark.parametrize(("method", "path"), [
    ("post", "/directory/centers/{id}"),
    ("post", "/directory/centers/{id}/verify"),
    ("get", "/directory/centers/new"),
    ("post", "/directory/centers/new"),
    ("get", "/directory/unverified"),
    ("get", "/directory/export.zip"),
    ("get", "/directory/groups/new"),
    ("post", "/directory/resources/new"),
])
def test_a_counselor_cannot_edit_verify_or_export_the_directory(counselor_client, session, center,
                                                                 method, path):
    url = path.format(id=center.id)
    resp = (counselor_client.post(url, {"name": "Changed"}) if method == "post"
            else counselor_client.get(url))
    assert resp.status_code == 403
    got = fresh(session, center)
    assert got.name == "Demo Harbor Recovery" and got.last_verified_at is None


def test_the_center_page_shows_a_counselor_no_edit_form(counselor_client, center):
    page = counselor_client.get(f"/directory/centers/{center.id}")
    assert page.status_code == 200
    assert b'id="capacity-form"' in page.data
    assert b'id="center-form"' not in page.data
    assert b'id="mark-verified"' not in page.data


def test_signed_out_visitors_are_sent_to_sign_in(client, center):
    resp = client.get("/directory")
    assert resp.status_code == 302 and "/sign-in" in resp.headers["Location"]


def test_a_supervisor_edits_a_center_and_the_change_is_audited(supervisor_client, session, center):
    page = supervisor_client.get(f"/directory/centers/{center.id}")
    assert b'id="center-form"' in page.data
    resp = supervisor_client.post(f"/directory/centers/{center.id}", {
        "name": "Demo Harbor Recovery Center", "street1": "1 Demo Pier", "city": "New York",
        "state": "NY", "zip_code": "10001", "latitude": "40.751", "longitude": "-73.99",
        "phone": "555-555-0142", "website": "https://harbor.example.org",
        "offer_care": ["DT", "RS"], "offer_payment": ["MD"], "offer_language": ["es"],
        "active": "1"})
    assert resp.status_code == 302, resp.data
    got = fresh(session, center)
    assert got.name == "Demo Harbor Recovery Center"
    assert got.codes("care") == ["DT", "RS"] and got.codes("language") == ["es"]
    event = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "directory.center.update")).one()
    assert event.actor == supervisor_client.username
    assert set(event.detail["fields"]) >= {"name", "street1", "website", "offerings"}


def test_mistakes_are_shown_beside_their_fields_and_nothing_is_saved(supervisor_client, session,
                                                                     center):
    resp = supervisor_client.post(f"/directory/centers/{center.id}", {
        "name": "", "zip_code": "1234", "website": "harbor dot org", "active": "1"})
    assert resp.status_code == 422
    for text in (b"Name is required.", b"1234 is not a known US ZIP code.",
                 b"starting with https://", b'aria-invalid="true"', b"Not saved: 3 problems"):
        assert text in resp.data
    # The summary at the top links each problem to its field; what was typed is kept.
    page = resp.get_data(as_text=True)
    assert '<a href="#f-zip_code">ZIP code</a>' in page and '<a href="#f-name">Name</a>' in page
    assert 'value="1234"' in page and 'value="harbor dot org"' in page
    # The browser is told the limits the server checks.
    assert 'maxlength="255"' in page and 'maxlength="5000"' in page and " required" in page
    assert "novalidate" not in page
    assert fresh(session, center).name == "Demo Harbor Recovery"
    assert "directory.center.update" not in actions(session)


def test_an_admin_adds_a_center(admin_client, session):
    resp = admin_client.post("/directory/centers/new", {
        "name": "Demo New Dawn", "zip_code": "94103", "offer_care": ["OP"], "active": "1"})
    assert resp.status_code == 302, resp.data
    made = session.scalars(select(TreatmentCenter).where(
        TreatmentCenter.name == "Demo New Dawn")).one()
    assert made.approximate_location and made.state == "CA"
    assert "directory.center.create" in actions(session)


def test_mark_verified_takes_a_center_off_the_six_month_list(supervisor_client, session, center):
    make_center(session, name="Demo Checked Lately",
                last_verified_at=utcnow() - dt.timedelta(days=20))
    make_center(session, name="Demo Checked Long Ago",
                last_verified_at=utcnow() - dt.timedelta(days=400), verified_by="old")
    session.commit()
    page = supervisor_client.get("/directory/unverified")
    assert page.status_code == 200
    assert b"Demo Harbor Recovery" in page.data and b"Demo Checked Long Ago" in page.data
    assert b"Demo Checked Lately" not in page.data
    resp = supervisor_client.post(f"/directory/centers/{center.id}/verify", {"back": "unverified"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/directory/unverified")
    got = fresh(session, center)
    assert got.verified_by == supervisor_client.username and got.last_verified_at is not None
    assert b"Demo Harbor Recovery" not in supervisor_client.get("/directory/unverified").data
    assert actions(session)[-1] == "directory.center.verify"


def test_a_supervisor_adds_and_edits_a_meeting(supervisor_client, session):
    resp = supervisor_client.post("/directory/groups/new", {
        "name": "Demo Grupo NA", "fellowship": "NA", "twelve_step": "1", "day": "3",
        "time": "19:00", "timezone": "", "duration_minutes": "90", "mode": "in_person",
        "street": "9 Demo Hall Rd", "zip_code": "60601", "language": "es", "active": "1"})
    assert resp.status_code == 302, resp.data
    group = session.scalars(select(SupportGroup)).one()
    assert (group.timezone, group.day, group.language) == ("America/Chicago", 3, "es")
    resp = supervisor_client.post(f"/directory/groups/{group.id}", {
        "name": "Demo Grupo NA", "fellowship": "NA", "day": "3", "time": "19:00",
        "timezone": "America/Chicago", "duration_minutes": "90", "mode": "online",
        "online_url": "https://meetings.example.org/grupo", "language": "es", "active": "1"})
    assert resp.status_code == 302, resp.data
    session.expire_all()
    assert session.get(SupportGroup, group.id).online_url.endswith("/grupo")
    assert actions(session)[-2:] == ["directory.group.create", "directory.group.update"]
    page = supervisor_client.get("/directory/groups?mode=online")
    assert b"Demo Grupo NA" in page.data


def test_a_supervisor_adds_a_resource_and_a_counselor_finds_it(supervisor_client, counselor_client,
                                                               session):
    resp = supervisor_client.post("/directory/resources/new", {
        "title": "Demo Coping Cards", "kind": "book", "language": "en",
        "link": "https://resources.example.org/cards", "active": "1"})
    assert resp.status_code == 302, resp.data
    assert session.scalars(select(Resource.title)).all() == ["Demo Coping Cards"]
    page = counselor_client.get("/directory/resources?text=coping")
    assert b"Demo Coping Cards" in page.data and b"Edit" not in page.data


def test_editors_see_and_reach_inactive_groups_and_resources(supervisor_client, counselor_client,
                                                             session):
    make_group(session, name="Demo Closed Meeting", active=False)
    make_resource(session, title="Demo Withdrawn Leaflet", active=False,
                  how_to_get="No longer printed.")
    session.commit()
    assert b"Demo Closed Meeting" in supervisor_client.get("/directory/groups").data
    assert b"Demo Closed Meeting" not in counselor_client.get("/directory/groups").data
    assert b"Demo Withdrawn Leaflet" in supervisor_client.get("/directory/resources").data


def test_the_hsds_export_downloads_as_a_zip_and_is_audited(supervisor_client, session, center):
    resp = supervisor_client.get("/directory/export.zip")
    assert resp.status_code == 200
    assert resp.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(resp.data)) as archive:
        assert b"Demo Harbor Recovery" in archive.read("locations.csv")
    assert actions(session)[-1] == "directory.export"


def test_asking_for_a_center_that_is_not_there_is_404_and_audited(counselor_client, session):
    assert counselor_client.get("/directory/centers/999999").status_code == 404
    event = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "directory.center.refused")).one()
    assert event.record_id == "999999"


def test_the_referral_panel_filters_on_capacity_and_says_when_it_was_confirmed(
        counselor_client, session, center):
    user = session.get(User, counselor_client.user_id)
    contact = contacts.open_contact_for_call(session, user, make_call(session))
    center.accepting_patients = True
    center.capacity_confirmed_at = utcnow() - dt.timedelta(days=4, hours=1)
    make_center(session, name="Demo Full House", latitude=40.752, longitude=-73.99,
                accepting_patients=False)
    session.commit()
    resp = counselor_client.get(f"/records/{contact.id}/referrals/search"
                                "?kind=center&zip=10001&miles=25&capacity=accepting")
    assert resp.status_code == 200
    assert b"Demo Harbor Recovery" in resp.data and b"Demo Full House" not in resp.data
    assert b"Accepting new patients \xc2\xb7 confirmed 4 days ago" in resp.data
    record = counselor_client.get(f"/records/{contact.id}")
    assert b'name="capacity" value="accepting"' in record.data
