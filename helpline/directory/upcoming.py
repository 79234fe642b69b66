"""The next meetings near a ZIP code: what a caller hears in the IVR and a counselor sees.

A meeting's day and time are local to its own time zone (Meeting Guide's rule), so "starting
after now" is decided meeting by meeting: its next start is the next time its weekday and
clock time come round where it is held. Of those starting within :data:`UPCOMING_HOURS`, the
in-person (and hybrid) ones are listed nearest first, widening the circle until enough are
found; online ones follow, soonest first. Meetings in the caller's language come first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.directory.geo import bounding_box, haversine_miles, zip_point
from helpline.directory.search import UnknownZipError, _box_clause
from helpline.models import SupportGroup

UPCOMING_HOURS = 12  # "tonight": from now until the small hours for a call in the evening
RADII = (10.0, 25.0, 50.0)


@dataclass(frozen=True)
class UpcomingMeeting:
    group: SupportGroup
    starts_at: dt.datetime  # aware (UTC)
    distance_miles: float | None  # None for an online meeting


@dataclass(frozen=True)
class Upcoming:
    in_person: list[UpcomingMeeting]
    online: list[UpcomingMeeting]
    zone: str  # the ZIP code's time zone: times are told in it

    @property
    def all(self) -> list[UpcomingMeeting]:
        return [*self.in_person, *self.online]


def meeting_weekday(day: dt.date) -> int:
    """Meeting Guide's weekday of a date: 0 is Sunday."""
    return (day.weekday() + 1) % 7


def next_start(group: SupportGroup, now: dt.datetime) -> dt.datetime | None:
    """When the meeting next starts after ``now``, in UTC; None for an unknown time zone."""
    try:
        zone = ZoneInfo(group.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    local = now.astimezone(zone)
    ahead = (group.day - meeting_weekday(local.date())) % 7
    start = dt.datetime.combine(local.date() + dt.timedelta(days=ahead), group.time,
                                tzinfo=zone)
    if start <= local:
        start += dt.timedelta(days=7)
    # Round trip through UTC: a start inside a spring-forward gap lands on a real instant.
    return start.astimezone(dt.UTC)


def _candidate_days(now: dt.datetime, hours: int) -> set[int]:
    # Any zone is within 14 hours of UTC either way: the weekdays a start in the window can
    # have somewhere.
    first = (now - dt.timedelta(hours=14)).date()
    last = (now + dt.timedelta(hours=hours + 14)).date()
    return {meeting_weekday(first + dt.timedelta(days=n))
            for n in range((last - first).days + 1)}


def _starting(groups: Sequence[SupportGroup], now: dt.datetime,
              until: dt.datetime) -> list[tuple[SupportGroup, dt.datetime]]:
    found = []
    for group in groups:
        start = next_start(group, now)
        if start is not None and start <= until:
            found.append((group, start))
    return found


def upcoming_meetings(session: Session, zip_code: str, now: dt.datetime, *,
                      language: str | None = None, in_person: int = 3, online: int = 2,
                      hours: int = UPCOMING_HOURS) -> Upcoming:
    """The next ``in_person`` meetings near ``zip_code`` starting within ``hours`` of ``now``
    (nearest first, within 50 miles) and the next ``online`` ones (soonest first).

    :class:`UnknownZipError` for a ZIP code that is not known.
    """
    point = zip_point(zip_code)
    if point is None:
        raise UnknownZipError(f"{zip_code!r} is not a known US ZIP code")
    until = now + dt.timedelta(hours=hours)
    days = _candidate_days(now, hours)
    active = (SupportGroup.active.is_(True), SupportGroup.day.in_(days))

    def other_language(group: SupportGroup) -> bool:
        return language is not None and group.language != language

    near: list[UpcomingMeeting] = []
    for miles in RADII:
        box = bounding_box(point.latitude, point.longitude, miles)
        groups = session.scalars(select(SupportGroup).where(
            *active, SupportGroup.attendance != "online",
            _box_clause(SupportGroup.latitude, SupportGroup.longitude, box))).all()
        scored = []
        for group, start in _starting(groups, now, until):
            assert group.latitude is not None and group.longitude is not None
            d = haversine_miles(point.latitude, point.longitude, group.latitude,
                                group.longitude)
            if d <= miles:
                scored.append((other_language(group), d, start, group.id,
                               UpcomingMeeting(group, start, d)))
        scored.sort(key=lambda t: t[:4])
        near = [t[4] for t in scored[:in_person]]
        if len(near) >= in_person:
            break
    listed = {m.group.id for m in near}
    remote = session.scalars(select(SupportGroup).where(
        *active, SupportGroup.attendance.in_(("online", "hybrid")))).all()
    soon = sorted(((other_language(g), start, g.id, g) for g, start in
                   _starting(remote, now, until) if g.id not in listed), key=lambda t: t[:3])
    return Upcoming(near, [UpcomingMeeting(t[3], t[1], None) for t in soon[:online]],
                    point.timezone or "America/New_York")
