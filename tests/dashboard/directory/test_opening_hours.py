"""Opening hours (HSDS schedules) where staff look for a center: its page, the directory
search and the referral panel of a caller's record."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from helpline.models import CenterSchedule, TreatmentCenter, User
from helpline.records import contacts
from tests.factories import make_call
from tests.factories.directory import make_center

HOURS = "Mon, Tue, Wed, Thu, Fri 09:00–17:00. Closed on federal holidays."


@pytest.fixture
def open_weekdays(session: Session) -> TreatmentCenter:
    center = make_center(session, name="Demo Weekday Clinic", latitude=40.7501,
                         longitude=-73.997)
    center.schedules = [CenterSchedule(
        freq="WEEKLY", byday="MO,TU,WE,TH,FR", opens_at=dt.time(9), closes_at=dt.time(17),
        description="Closed on federal holidays.", link_type="location")]
    session.commit()
    return center


def test_a_centers_page_shows_its_opening_hours(counselor_client, open_weekdays) -> None:
    page = counselor_client.get(f"/directory/centers/{open_weekdays.id}")
    assert page.status_code == 200
    assert HOURS in page.get_data(as_text=True)


def test_the_directory_search_shows_opening_hours(counselor_client, open_weekdays) -> None:
    page = counselor_client.get("/directory?zip=10001&miles=25")
    assert f"Open: {HOURS}" in page.get_data(as_text=True)


def test_the_referral_panel_shows_opening_hours(counselor_client, session: Session,
                                                open_weekdays) -> None:
    user = session.get(User, counselor_client.user_id)
    contact = contacts.open_contact_for_call(session, user, make_call(session))
    session.commit()
    resp = counselor_client.get(f"/records/{contact.id}/referrals/search"
                                "?kind=center&zip=10001&miles=25")
    assert resp.status_code == 200
    assert f"Open: {HOURS}" in resp.get_data(as_text=True)
