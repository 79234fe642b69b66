"""The Meeting Guide feeds page (supervisors only) and imported meetings in the pages and the
referral panel."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.directory.meeting_guide import FeedOptions, import_meetings
from helpline.models import AuditEvent, MeetingFeed, SupportGroup, User
from helpline.records import contacts
from tests.factories import make_call
from tests.factories.directory import make_group
from tests.factories.meeting_guide import load

FEED_URL = "https://district-demo.example.org/meetings.json"


def test_a_supervisor_adds_and_removes_a_feed(supervisor_client, session: Session) -> None:
    page = supervisor_client.get("/directory/feeds")
    assert page.status_code == 200 and b"No feeds yet." in page.data
    wrong = supervisor_client.post("/directory/feeds", {
        "url": "not a url", "default_timezone": "Nowhere/Else", "fellowship": "AA"})
    assert wrong.status_code == 422
    assert b"Give a time zone such as America/New_York." in wrong.data
    added = supervisor_client.post("/directory/feeds", {
        "url": FEED_URL, "default_timezone": "America/Chicago", "fellowship": "AA"})
    assert added.status_code == 302
    feed = session.scalars(select(MeetingFeed)).one()
    import_meetings(session, load("feed_mixed.json"), FeedOptions(FEED_URL))
    session.commit()
    listed = supervisor_client.get("/directory/feeds")
    assert FEED_URL.encode() in listed.data and b"America/Chicago" in listed.data
    removed = supervisor_client.post(f"/directory/feeds/{feed.id}/remove")
    assert removed.status_code == 302
    session.expire_all()
    assert session.scalars(select(MeetingFeed)).all() == []
    assert not any(g.active for g in session.scalars(
        select(SupportGroup).where(SupportGroup.source == FEED_URL)))
    assert set(session.scalars(select(AuditEvent.action).where(
        AuditEvent.record_type == "meeting_feed"))) >= {
        "directory.meeting_feed.add", "directory.meeting_feed.remove"}


@pytest.mark.parametrize(("method", "path"), [
    ("get", "/directory/feeds"),
    ("post", "/directory/feeds"),
    ("post", "/directory/feeds/1/remove"),
])
def test_a_counselor_cannot_configure_feeds(counselor_client, session: Session, method: str,
                                            path: str) -> None:
    resp = (counselor_client.post(path, {"url": FEED_URL, "default_timezone": "UTC",
                                         "fellowship": "AA"}) if method == "post"
            else counselor_client.get(path))
    assert resp.status_code == 403
    assert session.scalars(select(MeetingFeed)).all() == []


def test_imported_meetings_show_how_to_attend_and_their_types(counselor_client,
                                                              session: Session) -> None:
    import_meetings(session, load("feed_mixed.json"), FeedOptions(FEED_URL))
    session.commit()
    page = counselor_client.get("/directory/groups?zip=60641")
    assert page.status_code == 200
    assert b"Hybrid Hope" in page.data and b"also online" in page.data
    assert b"Step Study" in page.data and b"dial-in +15555550102,,123456#" in page.data


def test_the_referral_panel_lists_the_meetings_starting_soon(counselor_client,
                                                             session: Session) -> None:
    user = session.get(User, counselor_client.user_id)
    contact = contacts.open_contact_for_call(session, user, make_call(session))
    now = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=-5)))
    soon = now + dt.timedelta(hours=1)
    # A fixed-offset zone keeps the test free of daylight saving: the meeting starts in an hour.
    make_group(session, "Starting Soon", day=(soon.weekday() + 1) % 7,
               time=dt.time(soon.hour, soon.minute), timezone="Etc/GMT+5",
               latitude=40.749, longitude=-73.996)
    make_group(session, "Some Other Day", day=(soon.weekday() + 3) % 7,
               time=dt.time(soon.hour, soon.minute), latitude=40.749, longitude=-73.996)
    session.commit()
    soon_only = counselor_client.get(f"/records/{contact.id}/referrals/search"
                                     "?kind=group&zip=10001&miles=25&when=soon")
    assert soon_only.status_code == 200
    assert b"Starting Soon" in soon_only.data and b"Some Other Day" not in soon_only.data
    assert b"starts " in soon_only.data and b"(Etc/GMT+5)" in soon_only.data
    every = counselor_client.get(f"/records/{contact.id}/referrals/search"
                                 "?kind=group&zip=10001&miles=25")
    assert b"Starting Soon" in every.data and b"Some Other Day" in every.data
