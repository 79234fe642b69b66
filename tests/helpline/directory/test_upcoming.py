"""The next meetings near a ZIP code: each meeting's start decided in its own time zone,
nearest first, online ones after them, the caller's language first."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from helpline.directory.search import UnknownZipError
from helpline.directory.upcoming import next_start, upcoming_meetings
from tests.factories.directory import make_group

# 18:00 in New York on Tuesday 10 March 2026 (daylight saving time began on the 8th).
NOW = dt.datetime(2026, 3, 10, 22, 0, tzinfo=dt.UTC)
TUESDAY, WEDNESDAY = 2, 3


def test_a_meeting_starts_in_its_own_time_zone(session: Session) -> None:
    la = make_group(session, day=TUESDAY, time=dt.time(19, 0), timezone="America/Los_Angeles")
    assert next_start(la, NOW) == dt.datetime(2026, 3, 11, 2, 0, tzinfo=dt.UTC)
    started = make_group(session, day=TUESDAY, time=dt.time(17, 0))
    assert next_start(started, NOW) == dt.datetime(2026, 3, 17, 21, 0, tzinfo=dt.UTC)


def test_tonights_meetings_nearest_first_then_online_ones(session: Session) -> None:
    near = make_group(session, "Near", day=TUESDAY, time=dt.time(20, 30),
                      latitude=40.749, longitude=-73.996)
    farther = make_group(session, "Farther", day=TUESDAY, time=dt.time(19, 0),
                         latitude=40.78, longitude=-73.97)
    make_group(session, "Already Started", day=TUESDAY, time=dt.time(17, 0))
    make_group(session, "Tomorrow Evening", day=WEDNESDAY, time=dt.time(19, 0))
    make_group(session, "Inactive", day=TUESDAY, time=dt.time(19, 0), active=False)
    far = make_group(session, "Thirty Miles", day=TUESDAY, time=dt.time(19, 30),
                     latitude=41.15, longitude=-73.90)
    chicago = make_group(session, "Chicago Online", day=TUESDAY, time=dt.time(19, 0),
                         timezone="America/Chicago", online_url="https://video.example.com/1")
    midnight = make_group(session, "Pacific Online", day=TUESDAY, time=dt.time(21, 0),
                          timezone="America/Los_Angeles",
                          online_url="https://video.example.com/2")
    make_group(session, "Online Last Week", day=TUESDAY, time=dt.time(9, 0),
               online_url="https://video.example.com/3")
    session.commit()

    found = upcoming_meetings(session, "10001", NOW)
    assert [m.group.name for m in found.in_person] == [near.name, farther.name, far.name]
    distances = [m.distance_miles for m in found.in_person]
    assert distances == sorted(distances) and distances[-1] is not None and distances[-1] > 25
    assert [m.group.name for m in found.online] == [chicago.name, midnight.name]
    assert found.online[0].starts_at == dt.datetime(2026, 3, 11, 0, 0, tzinfo=dt.UTC)
    assert found.zone == "America/New_York"


def test_meetings_in_the_callers_language_come_first(session: Session) -> None:
    make_group(session, "English Near", day=TUESDAY, time=dt.time(19, 0),
               latitude=40.749, longitude=-73.996)
    make_group(session, "Grupo Cercano", day=TUESDAY, time=dt.time(19, 0), language="es",
               latitude=40.76, longitude=-73.98)
    session.commit()
    spanish = upcoming_meetings(session, "10001", NOW, language="es")
    assert [m.group.name for m in spanish.in_person] == ["Grupo Cercano", "English Near"]


def test_a_hybrid_meeting_is_listed_once_with_the_near_ones(session: Session) -> None:
    make_group(session, "Hybrid", day=TUESDAY, time=dt.time(19, 0), attendance="hybrid",
               latitude=40.749, longitude=-73.996, online_url="https://video.example.com/h")
    session.commit()
    found = upcoming_meetings(session, "10001", NOW)
    assert [m.group.name for m in found.all] == ["Hybrid"]
    assert found.in_person[0].distance_miles is not None


def test_an_unknown_zip_is_refused(session: Session) -> None:
    with pytest.raises(UnknownZipError):
        upcoming_meetings(session, "00000", NOW)
