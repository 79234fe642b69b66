"""Meeting Guide feeds (code4recovery/spec): what each meeting becomes, what is refused and why,
and that a feed imported again changes nothing while meetings gone from it are retired."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from helpline.directory.meeting_guide import FeedOptions, import_meetings, meeting_rows
from helpline.directory.meeting_types import LANGUAGE_TYPES, TYPES
from helpline.models import AuditEvent, SupportGroup
from tests.factories.meeting_guide import DATA, load, spec_feed

FEED = FeedOptions("https://district-demo.example.org/meetings.json")


def groups(session: Session, source: str = FEED.source) -> dict[str, SupportGroup]:
    session.expire_all()
    return {g.source_id: g for g in session.scalars(
        select(SupportGroup).where(SupportGroup.source == source))}


def snapshot(session: Session) -> list[tuple[Any, ...]]:
    session.expire_all()
    columns = [c for c in SupportGroup.__table__.columns]
    return [tuple(row) for row in session.execute(
        select(*columns).order_by(SupportGroup.source_id))]


def test_the_types_are_the_specs_own_list() -> None:
    official = json.loads((DATA / "types.json").read_text(encoding="utf-8"))
    assert {code: (names["en"], names["es"]) for code, names in official.items()} == TYPES
    assert set(LANGUAGE_TYPES) <= set(TYPES)


def test_the_specs_own_example_is_imported_with_its_fields(session: Session) -> None:
    report = import_meetings(session, load("spec_example.json"), FEED)
    session.commit()
    assert (report.meetings, report.imported, report.refused_count) == (1, 1, 0)
    g = groups(session)["sunday-serenity-14@0"]
    assert (g.name, g.slug, g.day, g.time, g.duration_minutes) == (
        "Sunday Serenity", "sunday-serenity-14", 0, dt.time(18, 0), 90)
    assert (g.location, g.street, g.city, g.state, g.zip_code) == (
        "Alano Club", "123 Main Street", "Anytown", "CA", "98765")
    assert g.types == ["O", "T", "LGBTQ"]
    assert g.listing_url == "https://district123.org/meetings/sunday-serenity"
    assert g.notes == "Ring buzzer. Meeting is on the 2nd floor."
    # 98765 is not a US ZIP code: no point, and the state gives the time zone.
    assert g.latitude is None and g.timezone == "America/Los_Angeles"
    assert g.attendance == "in_person" and g.active and g.source == FEED.source


def test_each_kind_of_meeting_in_a_mixed_feed(session: Session) -> None:
    import_meetings(session, load("feed_mixed.json"), FEED)
    session.commit()
    rows = groups(session)
    chelsea = rows["chelsea-noon-step@2"]
    assert chelsea.attendance == "in_person" and not chelsea.approximate_location
    assert (chelsea.latitude, chelsea.longitude) == (40.7451, -73.9925)
    assert chelsea.notes == "Side door. Coffee & tea.\n\nElevator to the 2nd floor."
    lunch = [rows[f"lunch-bunch-online@{d}"] for d in range(1, 6)]
    assert all(g.attendance == "online" and g.timezone == "America/Chicago" for g in lunch)
    assert lunch[0].conference_url_notes == "Passcode in the notes of the group"
    hybrid = rows["hybrid-hope@4"]
    assert hybrid.attendance == "hybrid" and hybrid.online and hybrid.in_person
    assert hybrid.conference_phone == "+15555550102,,123456#"
    assert hybrid.conference_phone_notes == "PIN 123456" and hybrid.duration_minutes == 90
    desert = rows["desert-dawn@6"]
    assert (desert.street, desert.city, desert.state, desert.zip_code, desert.timezone) == (
        "300 E Congress St", "Tucson", "AZ", "85701", "America/Phoenix")
    late = rows["west-coast-late-night@5"]
    assert late.online_url == "https://zoom.example.com/j/5550103"
    assert late.timezone == "America/Los_Angeles" and late.duration_minutes == 60
    assert {rows["grupo-nueva-vida@0"].language, rows["grupo-nueva-vida@3"].language} == {"es"}
    dial_in = rows["1234@1"]
    assert dial_in.attendance == "online" and dial_in.conference_phone == "+15555550104"
    assert dial_in.time == dt.time(7, 0) and dial_in.timezone == "America/Chicago"
    assert rows["closed-doors@2"].attendance == "online"  # TC: the room is closed, the link open
    boarded = rows["boarded-up@3"]
    assert not boarded.active and boarded.types == ["TC"]


def test_refused_meetings_are_counted_with_their_reasons(session: Session) -> None:
    report = import_meetings(session, load("feed_mixed.json"), FEED)
    assert (report.meetings, report.imported, report.closed) == (13, 9, 1)
    assert dict(report.refused) == {
        "no day and time (by appointment)": 1,
        "slug repeated in the feed (the first one is kept)": 1,
        "time is not HH:MM": 1,
        "no name": 1,
    }
    assert ("noon-ish", "time is not HH:MM") in report.examples
    lines = report.lines()
    assert "refused, no name: 1" in "\n".join(lines)
    # A meeting with nothing to find it by, and one whose time zone cannot be known.
    nowhere = {"name": "Nowhere", "slug": "nowhere", "day": 1, "time": "10:00"}
    abroad = {"name": "Abroad", "slug": "abroad", "day": 1, "time": "10:00",
              "conference_url": "https://video.example.com/j/1"}
    report = import_meetings(session, [nowhere, abroad], FeedOptions("https://other.example"))
    assert dict(report.refused) == {
        "neither a place nor a conference link or phone": 1,
        "no time zone (none in the meeting or for the feed, no US ZIP or state)": 1}


def test_the_feeds_default_time_zone_is_used_before_the_zip_codes(session: Session) -> None:
    online = {"name": "Anywhere", "slug": "anywhere", "day": 1, "time": "10:00",
              "conference_url": "https://video.example.com/j/2"}
    own = {**online, "slug": "own", "timezone": "America/Denver"}
    rows = [meeting_rows(m, FeedOptions("x", "America/Chicago"))[0] for m in (online, own)]
    assert [r["timezone"] for r in rows] == ["America/Chicago", "America/Denver"]


def test_a_feed_made_to_the_spec_is_imported_at_least_99_percent(session: Session) -> None:
    feed = spec_feed(600, by_appointment=3)
    report = import_meetings(session, feed, FEED)
    session.commit()
    assert report.imported / report.meetings >= 0.99
    assert report.imported == 600 and dict(report.refused) == {
        "no day and time (by appointment)": 3}
    rows = groups(session)
    assert len(rows) == report.created == sum(
        len(m["day"]) if isinstance(m["day"], list) else 1 for m in feed[:600])
    kinds = {g.attendance for g in rows.values()}
    assert kinds == {"in_person", "online", "hybrid"}
    # Every online meeting got a time zone although most name none.
    assert all(g.timezone for g in rows.values())
    assert all(g.types for g in rows.values())


def test_importing_the_same_feed_again_changes_nothing(session: Session) -> None:
    feed = spec_feed(120) + load("feed_mixed.json")
    first = import_meetings(session, feed, FEED)
    session.commit()
    before = snapshot(session)
    events = session.scalar(select(func.count()).select_from(AuditEvent))
    again = import_meetings(session, feed, FEED)
    session.commit()
    assert (again.created, again.updated, again.retired) == (0, 0, 0)
    assert again.unchanged == first.created and again.imported == first.imported
    assert snapshot(session) == before
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == events


def test_meetings_gone_from_the_feed_are_retired_and_come_back(session: Session) -> None:
    feed = spec_feed(30)
    import_meetings(session, feed, FEED)
    session.commit()
    gone = feed.pop(3)  # meets on several days: every row of it is retired
    assert isinstance(gone["day"], list)
    report = import_meetings(session, feed, FEED)
    session.commit()
    rows = groups(session)
    retired = {k for k, g in rows.items() if not g.active}
    assert retired == {f"{gone['slug']}@{d}" for d in gone["day"]}
    assert report.retired == len(gone["day"])
    import_meetings(session, [gone, *feed], FEED)
    session.commit()
    assert all(g.active for g in groups(session).values())


def test_a_meeting_moved_to_another_day_moves_its_row(session: Session) -> None:
    meeting = {"name": "Moving", "slug": "moving", "day": [1, 3], "time": "19:00",
               "address": "1 Demo Way", "postal_code": "10001"}
    import_meetings(session, [meeting], FEED)
    session.commit()
    report = import_meetings(session, [{**meeting, "day": [1, 4]}], FEED)
    session.commit()
    assert (report.created, report.unchanged, report.retired) == (1, 1, 1)
    assert {k: g.active for k, g in groups(session).items()} == {
        "moving@1": True, "moving@3": False, "moving@4": True}


def test_a_feed_with_nothing_importable_retires_nothing(session: Session) -> None:
    import_meetings(session, spec_feed(10), FEED)
    session.commit()
    report = import_meetings(session, [], FEED)
    session.commit()
    assert report.retired == 0 and all(g.active for g in groups(session).values())


def test_feeds_keep_their_meetings_apart(session: Session) -> None:
    other = FeedOptions("https://another-district.example.org/feed")
    import_meetings(session, spec_feed(5), FEED)
    import_meetings(session, spec_feed(5), other)
    session.commit()
    assert len(groups(session)) == len(groups(session, other.source)) > 0


def test_a_dry_run_writes_nothing(session: Session) -> None:
    report = import_meetings(session, spec_feed(20), FEED, dry_run=True)
    session.commit()
    assert report.created > 0 and groups(session) == {}
