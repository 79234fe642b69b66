"""Search the directory: the one search behind the counselor's referral panel, the IVR locator
and `helpline directory search`.

A radius search runs in two steps, the same on SQLite and PostgreSQL without extensions:
1. SQL: the exact bounding box of the circle, sought on the (lat_cell, longitude, latitude,
   active) index as one short longitude range per quarter-degree band of latitude (a plain
   (latitude, longitude) index reads every center in the box's whole band of the country,
   and a table lookup per center costs more than the index entry), plus every offering
   filter as an EXISTS probe on center_services' primary key, returning only
   (id, latitude, longitude) of the candidates;
2. Python: the great-circle distance of each candidate, keeping those within the radius (the
   box's corners are outside it), nearest first; then one query loads the page's centers,
   without their offerings unless asked (building those objects cost more than the search).
Steps 1 and 2 are center_query.match_centers, Core statements that `helpline directory search`
runs on a bare connection too (without the ORM, whose import took most of that command's time).
Within one facet the values are alternatives (Medicaid or sliding scale); facets combine with AND
(detox and Medicaid), and so do capacity filters (see capacity.py). Meeting filters follow the
same rule: several fellowships, ways of attending or times of day are alternatives, and each
kind of filter narrows the others. A meeting's day and time of day are its own local ones, as
Meeting Guide gives them, so "evening" is an evening where the meeting is held.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, defer, lazyload, selectinload

from helpline.directory import capacity as capacity_filters
from helpline.directory import center_query
from helpline.directory.center_query import (
    MAX_PER_PAGE,
    UnknownZipError,
    as_tuple,
    match_centers,
    resolve_point,
)
from helpline.directory.center_query import box_clause as _box_clause
from helpline.directory.geo import ZipPoint, bounding_box, haversine_miles, zip_point
from helpline.models.directory import CenterService, Resource, SupportGroup, TreatmentCenter

# nearest_centers widens its circle until it has enough centers, up to this many miles.
NEAREST_RADII = (10.0, 25.0, 50.0, 100.0, 250.0)


# When a meeting starts, in its own local time: (label, from, until). Night runs past midnight.
TIMES_OF_DAY: dict[str, tuple[str, dt.time, dt.time]] = {
    "morning": ("Morning (5:00 to noon)", dt.time(5), dt.time(12)),
    "afternoon": ("Afternoon (noon to 17:00)", dt.time(12), dt.time(17)),
    "evening": ("Evening (17:00 to 21:00)", dt.time(17), dt.time(21)),
    "night": ("Night (21:00 to 5:00)", dt.time(21), dt.time(5)),
}
ATTENDANCE: dict[str, str] = {"in_person": "In person", "online": "Online",
                              "hybrid": "Hybrid (in person and online)"}


@dataclass(frozen=True)
class MeetingFilters:
    """What a meeting must be: each field empty for "any". The rule in one place, both as SQL
    (for search_groups) and for meetings already loaded (the ones starting soon)."""

    fellowships: tuple[str, ...] = ()
    language: str | None = None
    attendance: tuple[str, ...] = ()
    day: int | None = None
    times_of_day: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for mode in self.attendance:
            if mode not in ATTENDANCE:
                raise ValueError(f"unknown way of attending: {mode!r}")
        for part in self.times_of_day:
            if part not in TIMES_OF_DAY:
                raise ValueError(f"unknown time of day: {part!r}")
        if self.day is not None and not 0 <= self.day <= 6:
            raise ValueError("day: 0 (Sunday) to 6 (Saturday)")

    def clauses(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.fellowships:
            wanted = {f.lower() for f in self.fellowships}
            clauses.append(func.lower(SupportGroup.fellowship).in_(wanted))
        if self.language:
            clauses.append(SupportGroup.language == self.language)
        if self.attendance:
            clauses.append(SupportGroup.attendance.in_(self.attendance))
        if self.day is not None:
            clauses.append(SupportGroup.day == self.day)
        if self.times_of_day:
            spans = []
            for part in self.times_of_day:
                _, start, until = TIMES_OF_DAY[part]
                spans.append(and_(SupportGroup.time >= start, SupportGroup.time < until)
                             if start < until else
                             or_(SupportGroup.time >= start, SupportGroup.time < until))
            clauses.append(or_(*spans))
        return clauses

    def matches(self, group: SupportGroup) -> bool:
        if self.fellowships and group.fellowship.lower() not in {
                f.lower() for f in self.fellowships}:
            return False
        if self.language and group.language != self.language:
            return False
        if self.attendance and group.attendance not in self.attendance:
            return False
        if self.day is not None and group.day != self.day:
            return False
        return not self.times_of_day or any(
            (start <= group.time < until) if start < until
            else (group.time >= start or group.time < until)
            for _, start, until in (TIMES_OF_DAY[p] for p in self.times_of_day))

    @property
    def wants_in_person(self) -> bool:
        return not self.attendance or bool({"in_person", "hybrid"} & set(self.attendance))

    @property
    def wants_online(self) -> bool:
        return not self.attendance or "online" in self.attendance


@dataclass
class CenterHit:
    center: TreatmentCenter
    # Miles from the search point (None for a search without one). Approximate when either
    # end is a ZIP centre (center.approximate_location, or a search by ZIP).
    distance_miles: float | None


@dataclass
class CenterPage:
    items: list[CenterHit]
    total: int
    page: int
    per_page: int
    origin: ZipPoint | None = None

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass
class GroupHit:
    group: SupportGroup
    distance_miles: float | None


def _offering_clauses(filters: dict[str, Any]) -> list[ColumnElement[bool]]:
    """The offering filters on the models' tables, for a statement that selects models."""
    return center_query.offering_clauses(filters, TreatmentCenter.__table__,
                                         CenterService.__table__)


def _text_clause(text: str) -> ColumnElement[bool]:
    """The text filter on the models' table, for a statement that selects models."""
    return center_query.text_clause(text, TreatmentCenter.__table__)


def search_centers(
    session: Session,
    *,
    zip_code: str | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    within_miles: float = 25.0,
    care: Sequence[str] = (),
    medications: Sequence[str] = (),
    payment: Sequence[str] = (),
    languages: Sequence[str] = (),
    ages: Sequence[str] = (),
    populations: Sequence[str] = (),
    capacity: Sequence[str] = (),
    text: str | None = None,
    include_inactive: bool = False,
    with_offerings: bool = False,
    page: int = 1,
    per_page: int = 20,
) -> CenterPage:
    """Active treatment centers matching every filter, one page of them.

    With a ZIP code or a point: every center within ``within_miles`` (great-circle), nearest
    first (ties by id), each with its distance. Without: ordered by name. ``text`` matches
    name, alternate name or city. Filter values may be codes ("DT") or names ("detox");
    ``capacity`` takes "accepting", "no_waitlist", "same_day_moud" (all must hold). An unknown
    filter raises vocabulary.UnknownOffering, an unknown ZIP UnknownZipError.
    ``include_inactive`` is for the directory's own upkeep pages; ``with_offerings`` loads
    each center's offerings in the same round trip (otherwise they load when first read).
    """
    matches = match_centers(
        session, zip_code=zip_code, latitude=latitude, longitude=longitude,
        within_miles=within_miles, care=care, medications=medications, payment=payment,
        languages=languages, ages=ages, populations=populations, capacity=capacity, text=text,
        include_inactive=include_inactive, page=page, per_page=per_page)
    ids = [cid for _, cid in matches.window]
    options = (selectinload(TreatmentCenter.services) if with_offerings
               else lazyload(TreatmentCenter.services), defer(TreatmentCenter.source_extra))
    by_id = {c.id: c for c in session.scalars(
        select(TreatmentCenter).where(TreatmentCenter.id.in_(ids)).options(*options)
    )} if ids else {}
    items = [CenterHit(by_id[cid], d) for d, cid in matches.window]
    return CenterPage(items, matches.total, matches.page, matches.per_page, matches.origin)


def nearest_centers(session: Session, zip_code: str, limit: int = 3,
                    **filters: Any) -> list[CenterHit]:
    """The ``limit`` nearest matching centers to a ZIP code's centre (for the IVR locator).

    Widens the circle (10, 25, 50, 100, 250 miles, or up to ``within_miles`` if given) until it
    holds ``limit`` centers. An unknown ZIP gives an empty list (check with geo.zip_point first
    to tell the caller so).
    """
    if zip_point(zip_code) is None:
        return []
    ceiling = float(filters.pop("within_miles", NEAREST_RADII[-1]))
    filters.pop("page", None)
    filters.pop("per_page", None)
    radii = [r for r in NEAREST_RADII if r < ceiling] + [ceiling]
    result: CenterPage | None = None
    for radius in radii:
        result = search_centers(session, zip_code=zip_code, within_miles=radius,
                                per_page=limit, **filters)
        if result.total >= limit:
            break
    return result.items if result else []


def locator_centers(session: Session, zip_code: str, limit: int = 3) -> list[CenterHit]:
    """The centers the IVR locator reads to a caller: near, and able to take them.

    A center confirmed not to accept new patients is left out. The circle widens as in
    :func:`nearest_centers` until it holds ``limit`` of the others; inside it, the centers
    confirmed to accept new patients come first (nearest first), then those whose capacity
    is not known, so a confirmed opening a few miles farther is read before an unknown one.
    """
    if zip_point(zip_code) is None:
        return []
    not_full = (capacity_filters.NOT_FULL,)
    for radius in NEAREST_RADII:
        candidates = search_centers(session, zip_code=zip_code, within_miles=radius,
                                    per_page=limit, capacity=not_full)
        if candidates.total >= limit or radius == NEAREST_RADII[-1]:
            break
    accepting = search_centers(session, zip_code=zip_code, within_miles=radius,
                               per_page=limit, capacity=("accepting",)).items
    chosen = {hit.center.id for hit in accepting}
    unknown = [hit for hit in candidates.items if hit.center.id not in chosen]
    return (accepting + unknown)[:limit]


def search_groups(
    session: Session,
    *,
    zip_code: str | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    within_miles: float = 25.0,
    fellowship: str | Sequence[str] | None = None,
    language: str | None = None,
    online: bool | None = None,
    day: int | None = None,
    attendance: str | Sequence[str] = (),
    time_of_day: str | Sequence[str] = (),
    text: str | None = None,
    include_inactive: bool = False,
    limit: int = 50,
) -> list[GroupHit]:
    """Support groups: in-person ones within the radius (nearest first) and, unless
    ``online=False``, online ones after them (by day and time). ``online=True``: online only.
    Without a place, in-person groups are listed by day and time.

    ``attendance`` ("in_person", "online", "hybrid") and ``time_of_day`` (the keys of
    :data:`TIMES_OF_DAY`) narrow the list as :class:`MeetingFilters` does; an unknown value
    raises ValueError."""
    _, lat, lon = resolve_point(zip_code, latitude, longitude)
    filters = MeetingFilters(fellowships=as_tuple(fellowship), language=language or None,
                             attendance=as_tuple(attendance), day=day,
                             times_of_day=as_tuple(time_of_day))
    clauses: list[ColumnElement[bool]] = [] if include_inactive else [
        SupportGroup.active.is_(True)]
    clauses.extend(filters.clauses())
    if text and text.strip():
        clauses.append(func.lower(SupportGroup.name).contains(text.strip().lower(),
                                                               autoescape=True))
    order = (SupportGroup.day, SupportGroup.time, SupportGroup.id)
    hits: list[GroupHit] = []
    if online is not True and filters.wants_in_person:
        in_person = [*clauses, SupportGroup.attendance != "online"]  # hybrid ones too
        if lat is not None and lon is not None:
            in_person.append(_box_clause(SupportGroup.latitude, SupportGroup.longitude,
                                         bounding_box(lat, lon, within_miles)))
            near = []
            for g in session.scalars(select(SupportGroup).where(*in_person)):
                if g.latitude is None or g.longitude is None:  # the box clause left these out
                    continue
                d = haversine_miles(lat, lon, g.latitude, g.longitude)
                if d <= within_miles:
                    near.append((d, g.day, g.time, g.id, g))
            near.sort(key=lambda t: t[:4])
            hits.extend(GroupHit(t[4], t[0]) for t in near)
        else:
            hits.extend(GroupHit(g, None) for g in session.scalars(
                select(SupportGroup).where(*in_person).order_by(*order).limit(limit)))
    if online is not False and len(hits) < limit and (filters.wants_online or online):
        # Hybrid meetings are listed with the in-person ones unless only online ones are asked.
        remote = (SupportGroup.attendance.in_(("online", "hybrid")) if online is True
                  else SupportGroup.attendance == "online")
        hits.extend(GroupHit(g, None) for g in session.scalars(
            select(SupportGroup).where(*clauses, remote)
            .order_by(*order).limit(limit - len(hits))))
    return hits[:limit]


def search_resources(session: Session, *, kind: str | None = None, language: str | None = None,
                     text: str | None = None, include_inactive: bool = False,
                     limit: int = 100) -> list[Resource]:
    """Active resources of a kind and language, ``text`` matching title or description."""
    clauses: list[ColumnElement[bool]] = [] if include_inactive else [
        Resource.active.is_(True)]
    if kind:
        clauses.append(Resource.kind == kind)
    if language:
        clauses.append(Resource.language == language)
    if text and text.strip():
        needle = text.strip().lower()
        clauses.append(or_(func.lower(Resource.title).contains(needle, autoescape=True),
                           func.lower(Resource.description).contains(needle, autoescape=True)))
    return list(session.scalars(select(Resource).where(*clauses)
                                .order_by(Resource.kind, Resource.title, Resource.id)
                                .limit(limit)))


__all__ = ["MAX_PER_PAGE", "CenterHit", "CenterPage", "GroupHit", "UnknownZipError",
           "locator_centers", "nearest_centers", "search_centers", "search_groups",
           "search_resources"]
