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
Within one facet the values are alternatives (Medicaid or sliding scale); facets combine with AND
(detox and Medicaid), and so do capacity filters (see capacity.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session, defer, lazyload, selectinload

from helpline.directory import capacity as capacity_filters
from helpline.directory import vocabulary
from helpline.directory.geo import (
    BoundingBox,
    ZipPoint,
    bounding_box,
    haversine_miles,
    zip_point,
)
from helpline.models.directory import CenterService, Resource, SupportGroup, TreatmentCenter

MAX_PER_PAGE = 200
# nearest_centers widens its circle until it has enough centers, up to this many miles.
NEAREST_RADII = (10.0, 25.0, 50.0, 100.0, 250.0)
# TreatmentCenter.lat_cell is CAST(latitude * 4 + 400 AS INTEGER), computed by the database.
CELLS_PER_DEGREE = 4
CELL_OFFSET = 400
# Beyond this many bands (a radius of some 1,700 miles) the band list is left out.
MAX_CELLS = 100


class UnknownZipError(ValueError):
    """The ZIP code is malformed or not a US ZIP code."""


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


def _as_tuple(values: str | Iterable[str] | None) -> tuple[str, ...]:
    if not values:
        return ()
    if isinstance(values, str):
        return (values,)
    return tuple(values)


def _offering_clauses(filters: dict[str, Any]) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    for facet, arg in (("care", "care"), ("medication", "medications"), ("payment", "payment"),
                       ("language", "languages"), ("age", "ages"),
                       ("population", "populations")):
        codes = vocabulary.normalise(facet, _as_tuple(filters.get(arg)))
        if codes:
            clauses.append(exists().where(
                CenterService.center_id == TreatmentCenter.id,
                CenterService.facet == facet,
                CenterService.code.in_(codes),
            ))
    return clauses


def _text_clause(text: str) -> ColumnElement[bool]:
    needle = text.strip().lower()
    return or_(*(func.lower(col).contains(needle, autoescape=True)
                 for col in (TreatmentCenter.name, TreatmentCenter.alternate_name,
                             TreatmentCenter.city)))


def _box_clause(lat_col: Any, lon_col: Any, box: BoundingBox) -> ColumnElement[bool]:
    lat_clause = lat_col.between(box.min_lat, box.max_lat)
    if not box.lon_ranges:
        return and_(lat_clause, lon_col.is_not(None))
    return and_(lat_clause, or_(*(lon_col.between(lo, hi) for lo, hi in box.lon_ranges)))


def _center_box_clause(lat: float, lon: float, miles: float) -> ColumnElement[bool]:
    box = bounding_box(lat, lon, miles)
    clause = _box_clause(TreatmentCenter.latitude, TreatmentCenter.longitude, box)
    # SQLite's cast truncates (floor, as the values are positive), PostgreSQL's rounds (floor
    # or floor + 1): one band more above covers both.
    low = math.floor(box.min_lat * CELLS_PER_DEGREE + CELL_OFFSET)
    high = math.floor(box.max_lat * CELLS_PER_DEGREE + CELL_OFFSET) + 1
    if high - low >= MAX_CELLS:
        return clause
    return and_(TreatmentCenter.lat_cell.in_(range(low, high + 1)), clause)


def _resolve_point(zip_code: str | None, latitude: float | None,
                   longitude: float | None) -> tuple[ZipPoint | None, float | None, float | None]:
    if zip_code is not None and str(zip_code).strip():
        point = zip_point(zip_code)
        if point is None:
            raise UnknownZipError("not a known US ZIP code")
        return point, point.latitude, point.longitude
    if (latitude is None) != (longitude is None):
        raise ValueError("give both latitude and longitude, or neither")
    return None, latitude, longitude


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
    if page < 1:
        raise ValueError("page starts at 1")
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    origin, lat, lon = _resolve_point(zip_code, latitude, longitude)
    clauses = [*_offering_clauses({
        "care": care, "medications": medications, "payment": payment,
        "languages": languages, "ages": ages, "populations": populations}),
        *capacity_filters.filter_clauses(capacity)]
    if not include_inactive:
        clauses.insert(0, TreatmentCenter.active.is_(True))
    if text and text.strip():
        clauses.append(_text_clause(text))
    start = (page - 1) * per_page
    options = (selectinload(TreatmentCenter.services) if with_offerings
               else lazyload(TreatmentCenter.services), defer(TreatmentCenter.source_extra))

    if lat is None or lon is None:
        total = session.scalar(select(func.count()).select_from(TreatmentCenter)
                               .where(*clauses)) or 0
        centers = session.scalars(
            select(TreatmentCenter).where(*clauses).options(*options)
            .order_by(TreatmentCenter.name, TreatmentCenter.id).offset(start).limit(per_page)
        ).all()
        return CenterPage([CenterHit(c, None) for c in centers], total, page, per_page, origin)

    if within_miles <= 0:
        return CenterPage([], 0, page, per_page, origin)
    clauses.append(_center_box_clause(lat, lon, within_miles))
    rows = session.execute(
        select(TreatmentCenter.id, TreatmentCenter.latitude, TreatmentCenter.longitude)
        .where(*clauses)
    ).all()
    hits: list[tuple[float, int]] = []
    for cid, clat, clon in rows:
        if clat is None or clon is None:  # the box clause has already left these out
            continue
        d = haversine_miles(lat, lon, clat, clon)
        if d <= within_miles:
            hits.append((d, cid))
    hits.sort()
    window = hits[start:start + per_page]
    by_id = {c.id: c for c in session.scalars(
        select(TreatmentCenter).where(TreatmentCenter.id.in_([cid for _, cid in window]))
        .options(*options)
    )} if window else {}
    items = [CenterHit(by_id[cid], d) for d, cid in window]
    return CenterPage(items, len(hits), page, per_page, origin)


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
    text: str | None = None,
    include_inactive: bool = False,
    limit: int = 50,
) -> list[GroupHit]:
    """Support groups: in-person ones within the radius (nearest first) and, unless
    ``online=False``, online ones after them (by day and time). ``online=True``: online only.
    Without a place, in-person groups are listed by day and time."""
    _, lat, lon = _resolve_point(zip_code, latitude, longitude)
    clauses: list[ColumnElement[bool]] = [] if include_inactive else [
        SupportGroup.active.is_(True)]
    fellowships = _as_tuple(fellowship)
    if fellowships:
        wanted = {f.lower() for f in fellowships}
        clauses.append(func.lower(SupportGroup.fellowship).in_(wanted))
    if language:
        clauses.append(SupportGroup.language == language)
    if day is not None:
        clauses.append(SupportGroup.day == day)
    if text and text.strip():
        clauses.append(func.lower(SupportGroup.name).contains(text.strip().lower(),
                                                               autoescape=True))
    order = (SupportGroup.day, SupportGroup.time, SupportGroup.id)
    hits: list[GroupHit] = []
    if online is not True:
        in_person = [*clauses, SupportGroup.online_url == ""]
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
    if online is not False and len(hits) < limit:
        hits.extend(GroupHit(g, None) for g in session.scalars(
            select(SupportGroup).where(*clauses, SupportGroup.online_url != "")
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


__all__ = ["CenterHit", "CenterPage", "GroupHit", "UnknownZipError", "nearest_centers",
           "search_centers", "search_groups", "search_resources"]
