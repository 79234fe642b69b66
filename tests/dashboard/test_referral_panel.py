"""The referrals panel of the record: the Directory page's filters, results a counselor can read
out (phone, care, payment; a meeting's day, time and place or link), and Attach that leaves the
search and its results alone."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy.orm import Session

from helpline.models import Contact, User
from helpline.records import contacts
from tests.factories import make_call
from tests.factories.directory import make_center, make_group

# A Tuesday, 10:00 in Etc/GMT+5 (a fixed offset: no daylight saving in the test).
NOW = dt.datetime(2025, 3, 4, 15, 0, tzinfo=dt.UTC)
ZONE = "Etc/GMT+5"


@pytest.fixture
def contact(counselor_client: Any, session: Session) -> Contact:
    user = session.get(User, counselor_client.user_id)
    assert user is not None
    opened = contacts.open_contact_for_call(session, user, make_call(session))
    session.commit()
    return opened


def search(client: Any, contact: Contact, query: str) -> str:
    resp = client.get(f"/records/{contact.id}/referrals/search?{query}")
    assert resp.status_code == 200, resp.data
    return resp.get_data(as_text=True)


def test_the_panel_offers_the_directory_filters_and_the_meeting_filters(
        counselor_client: Any, contact: Contact) -> None:
    page = counselor_client.get(f"/records/{contact.id}").get_data(as_text=True)
    for code, label in (("METH", "Methadone"), ("BU", "Buprenorphine"), ("NU", "Naltrexone")):
        assert f'name="medication" value="{code}"> {label}' in page
    for code in ("DT", "RS", "RL", "HI", "OP", "IOP", "PHP", "TELE"):
        assert f'name="care" value="{code}"' in page
    assert '<option value="es">Spanish</option>' in page
    assert '<option value="2">Tuesday</option>' in page
    assert '<option value="evening">Evening (17:00 to 21:00)</option>' in page
    for mode in ("in_person", "online", "hybrid"):
        assert f'name="attendance" value="{mode}"' in page
    assert '<option value="NA">Narcotics Anonymous</option>' in page


def test_center_results_show_phone_care_medication_and_payment_and_filter_on_them(
        counselor_client: Any, session: Session, contact: Contact) -> None:
    make_center(session, "Bridge Clinic", phone="555-0101", intake_phone="555-0199",
                care=("outpatient", "IOP"), medications=("buprenorphine",),
                payment=("medicaid", "sliding_scale"), languages=("es",))
    make_center(session, "Methadone Place", care=("outpatient",), medications=("methadone",),
                payment=("medicare",))
    session.commit()
    found = search(counselor_client, contact,
                   "kind=center&zip=10001&miles=25&medication=BU&language=es&care=OP")
    assert "Bridge Clinic" in found and "Methadone Place" not in found
    assert "Phone 555-0101 · intake 555-0199" in found
    assert "Care: Outpatient, Intensive outpatient" in found
    assert "Medication: Buprenorphine" in found
    assert "Payment: Medicaid, Sliding fee scale" in found
    both = search(counselor_client, contact, "kind=center&zip=10001&medication=BU&medication=METH")
    assert "Bridge Clinic" in both and "Methadone Place" in both


def test_an_unknown_filter_is_said_in_the_results(counselor_client: Any,
                                                 contact: Contact) -> None:
    found = search(counselor_client, contact, "kind=center&zip=10001&care=astrology")
    assert "unknown care filter: &#39;astrology&#39;" in found
    assert 'role="alert"' in found


def test_meetings_show_day_time_and_place_or_link_and_filter_on_them(
        counselor_client: Any, session: Session, contact: Contact,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dashboard.referrals.utcnow", lambda: NOW)
    make_group(session, "Tuesday Night Hope", day=2, time=dt.time(19, 0), timezone=ZONE,
               location="St. Mark's hall", street="12 W 31st St", city="New York", state="NY")
    make_group(session, "Hybrid Serenity", day=2, time=dt.time(18, 0), timezone=ZONE,
               attendance="hybrid", online_url="https://zoom.example/j/42",
               conference_phone="+15555550102,,42#", latitude=40.749, longitude=-73.996)
    make_group(session, "Online Only", day=2, time=dt.time(20, 0), timezone=ZONE,
               online_url="javascript:alert(1)")
    make_group(session, "Morning AA", fellowship="AA", day=2, time=dt.time(7, 0), timezone=ZONE)
    make_group(session, "Wednesday Early", day=3, time=dt.time(7, 30), timezone=ZONE)
    session.commit()

    tonight = search(counselor_client, contact,
                     "kind=group&zip=10001&miles=25&day=2&time_of_day=evening&fellowship=NA")
    assert "Morning AA" not in tonight and "Wednesday Early" not in tonight
    assert "Tuesdays 19:00 (Etc/GMT+5) · <strong>starts tonight at 19:00</strong>" in tonight
    assert "St. Mark&#39;s hall, 12 W 31st St, New York NY 10001 · about" in tonight
    assert ('also online: <a href="https://zoom.example/j/42" rel="noopener noreferrer" '
            'target="_blank">https://zoom.example/j/42</a>') in tonight
    assert "dial-in +15555550102,,42#" in tonight
    # A link that is not a web address is not offered as one.
    assert "Online Only" in tonight and "javascript:" not in tonight

    online = search(counselor_client, contact, "kind=group&zip=10001&attendance=online")
    assert "Online Only" in online and "Tuesday Night Hope" not in online
    tomorrow = search(counselor_client, contact, "kind=group&zip=10001&day=3")
    assert "starts tomorrow at 07:30" in tomorrow

    soon = search(counselor_client, contact, "kind=group&zip=10001&when=soon&fellowship=AA")
    assert "Nothing found" in soon  # Morning AA met this morning: next week is not soon
    soon_na = search(counselor_client, contact,
                     "kind=group&zip=10001&when=soon&attendance=in_person")
    assert "Tuesday Night Hope" in soon_na and "Hybrid Serenity" not in soon_na


def test_attach_answers_only_the_attached_list(counselor_client: Any, session: Session,
                                               contact: Contact) -> None:
    center = make_center(session, "Harbor Recovery")
    session.commit()
    resp = counselor_client.post(f"/records/{contact.id}/referrals",
                                 {"kind": "center", "target_id": str(center.id)})
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    assert '<div id="referrals-attached">' in body
    assert "Harbor Recovery" in body and "Attached." in body
    assert 'id="referral-search"' not in body and 'id="referral-results"' not in body
    again = search(counselor_client, contact, "kind=center&zip=10001")
    assert '<span class="status-badge">attached</span>' in again
