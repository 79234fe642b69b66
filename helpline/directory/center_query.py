"""The treatment center search as Core statements: which centers match, in which order, and
(for `helpline directory search`) their rows, on an ORM session or a bare connection alike.

search.search_centers (the referral panel, the IVR locator, the HSDS API) runs
:func:`match_centers` in its session and loads the page's centers as models;
`helpline directory search` runs it on a connection and reads the page as rows
(:func:`search_center_rows`), without importing sqlalchemy.orm or the models, which took most
of that command's time. How the search runs (bounding box, offering probes, distances in
Python) is told in search.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, FromClause, and_, exists, func, or_, select

from helpline.directory import capacity as capacity_filters
from helpline.directory import vocabulary
from helpline.directory.center_tables import CENTERS, SERVICES
from helpline.directory.geo import (
    BoundingBox,
    ZipPoint,
    bounding_box,
    haversine_miles,
    zip_point,
)

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

MAX_PER_PAGE = 200
# TreatmentCenter.lat_cell is CAST(latitude * 4 + 400 AS INTEGER), computed by the database.
CELLS_PER_DEGREE = 4
CELL_OFFSET = 400
# Beyond this many bands (a radius of some 1,700 miles) the band list is left out.
MAX_CELLS = 100

# search_centers' offering filters: (facet, the name of its argument).
OFFERING_ARGUMENTS = (("care", "care"), ("medication", "medications"), ("payment", "payment"),
                      ("language", "languages"), ("age", "ages"),
                      ("population", "populations"))


class UnknownZipError(ValueError):
    """The ZIP code is malformed or not a US ZIP code."""


def as_tuple(values: str | Iterable[str] | None) -> tuple[str, ...]:
    if not values:
        return ()
    if isinstance(values, str):
        return (values,)
    return tuple(values)


def offering_clauses(filters: Mapping[str, Any], centers: FromClause = CENTERS,
                     services: FromClause = SERVICES) -> list[ColumnElement[bool]]:
    """An EXISTS probe on center_services per facet filtered (its values are alternatives)."""
    clauses: list[ColumnElement[bool]] = []
    for facet, arg in OFFERING_ARGUMENTS:
        codes = vocabulary.normalise(facet, as_tuple(filters.get(arg)))
        if codes:
            clauses.append(exists().where(
                services.c.center_id == centers.c.id,
                services.c.facet == facet,
                services.c.code.in_(codes),
            ))
    return clauses


def text_clause(text: str, centers: FromClause = CENTERS) -> ColumnElement[bool]:
    """Name, alternate name or city contains ``text`` (any case)."""
    needle = text.strip().lower()
    return or_(*(func.lower(col).contains(needle, autoescape=True)
                 for col in (centers.c.name, centers.c.alternate_name, centers.c.city)))


def box_clause(lat_col: Any, lon_col: Any, box: BoundingBox) -> ColumnElement[bool]:
    lat_clause = lat_col.between(box.min_lat, box.max_lat)
    if not box.lon_ranges:
        return and_(lat_clause, lon_col.is_not(None))
    return and_(lat_clause, or_(*(lon_col.between(lo, hi) for lo, hi in box.lon_ranges)))


def center_box_clause(lat: float, lon: float, miles: float) -> ColumnElement[bool]:
    box = bounding_box(lat, lon, miles)
    clause = box_clause(CENTERS.c.latitude, CENTERS.c.longitude, box)
    # SQLite's cast truncates (floor, as the values are positive), PostgreSQL's rounds (floor
    # or floor + 1): one band more above covers both.
    low = math.floor(box.min_lat * CELLS_PER_DEGREE + CELL_OFFSET)
    high = math.floor(box.max_lat * CELLS_PER_DEGREE + CELL_OFFSET) + 1
    if high - low >= MAX_CELLS:
        return clause
    return and_(CENTERS.c.lat_cell.in_(range(low, high + 1)), clause)


def resolve_point(zip_code: str | None, latitude: float | None,
                  longitude: float | None) -> tuple[ZipPoint | None, float | None, float | None]:
    if zip_code is not None and str(zip_code).strip():
        point = zip_point(zip_code)
        if point is None:
            raise UnknownZipError("not a known US ZIP code")
        return point, point.latitude, point.longitude
    if (latitude is None) != (longitude is None):
        raise ValueError("give both latitude and longitude, or neither")
    return None, latitude, longitude


@dataclass
class CenterMatches:
    """One page of the matching centers, as ids: ``window`` holds (miles or None, id)."""

    window: list[tuple[float | None, int]]
    total: int
    page: int
    per_page: int
    origin: ZipPoint | None = None

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def match_centers(
    db: Connection | Session,
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
    page: int = 1,
    per_page: int = 20,
) -> CenterMatches:
    """The ids of one page of the matching centers, in order, and how many match in all:
    what search.search_centers documents, on a session or a connection."""
    if page < 1:
        raise ValueError("page starts at 1")
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    origin, lat, lon = resolve_point(zip_code, latitude, longitude)
    clauses = [*offering_clauses({
        "care": care, "medications": medications, "payment": payment,
        "languages": languages, "ages": ages, "populations": populations}),
        *capacity_filters.filter_clauses(capacity)]
    if not include_inactive:
        clauses.insert(0, CENTERS.c.active.is_(True))
    if text and text.strip():
        clauses.append(text_clause(text))
    start = (page - 1) * per_page

    if lat is None or lon is None:
        total = db.scalar(select(func.count()).select_from(CENTERS).where(*clauses)) or 0
        ids = db.execute(select(CENTERS.c.id).where(*clauses)
                         .order_by(CENTERS.c.name, CENTERS.c.id)
                         .offset(start).limit(per_page)).scalars().all()
        return CenterMatches([(None, cid) for cid in ids], total, page, per_page, origin)

    if within_miles <= 0:
        return CenterMatches([], 0, page, per_page, origin)
    clauses.append(center_box_clause(lat, lon, within_miles))
    rows = db.execute(
        select(CENTERS.c.id, CENTERS.c.latitude, CENTERS.c.longitude).where(*clauses)
    ).all()
    hits: list[tuple[float, int]] = []
    for cid, clat, clon in rows:
        if clat is None or clon is None:  # the box clause has already left these out
            continue
        d = haversine_miles(lat, lon, clat, clon)
        if d <= within_miles:
            hits.append((d, cid))
    hits.sort()
    window: list[tuple[float | None, int]] = list(hits[start:start + per_page])
    return CenterMatches(window, len(hits), page, per_page, origin)


@dataclass(frozen=True)
class CenterRow:
    """A center as `helpline directory search` prints it: the columns of center_tables, with
    the offering codes when asked for."""

    id: int
    name: str
    alternate_name: str
    street1: str
    street2: str
    city: str
    state: str
    zip_code: str
    phone: str
    intake_phone: str
    website: str
    latitude: float | None
    longitude: float | None
    approximate_location: bool
    active: bool
    last_verified_at: dt.datetime | None
    accepting_patients: bool | None
    waitlist: bool | None
    waitlist_days: int | None
    same_day_moud: bool | None
    capacity_confirmed_at: dt.datetime | None
    lat_cell: int | None
    services: tuple[tuple[str, str], ...] = field(default=())  # (facet, code), in order

    def codes(self, facet: str) -> list[str]:
        return [code for f, code in self.services if f == facet]

    @property
    def address(self) -> str:
        # As TreatmentCenter.address (test_center_query.py compares the two).
        street = ", ".join(p for p in (self.street1, self.street2) if p)
        place = " ".join(p for p in (f"{self.city}," if self.city else "", self.state,
                                     self.zip_code) if p)
        return ", ".join(p for p in (street, place.strip(",")) if p)


@dataclass
class RowHit:
    center: CenterRow
    distance_miles: float | None


@dataclass
class RowPage:
    items: list[RowHit]
    total: int
    page: int
    per_page: int
    origin: ZipPoint | None = None

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def search_center_rows(conn: Connection, *, with_offerings: bool = False,
                       **filters: Any) -> RowPage:
    """:func:`match_centers` with the page's centers read as rows (their offering codes
    too with ``with_offerings``): two statements, three with the offerings."""
    matches = match_centers(conn, **filters)
    ids = [cid for _, cid in matches.window]
    by_id: dict[int, dict[str, Any]] = {}
    if ids:
        by_id = {row["id"]: dict(row) for row in conn.execute(
            select(CENTERS).where(CENTERS.c.id.in_(ids))).mappings()}
    if ids and with_offerings:
        codes: dict[int, list[tuple[str, str]]] = {cid: [] for cid in ids}
        for cid, facet, code in conn.execute(
                select(SERVICES.c.center_id, SERVICES.c.facet, SERVICES.c.code)
                .where(SERVICES.c.center_id.in_(ids))
                .order_by(SERVICES.c.center_id, SERVICES.c.facet, SERVICES.c.code)):
            codes[cid].append((facet, code))
        for cid, values in codes.items():
            by_id[cid]["services"] = tuple(values)
    items = [RowHit(CenterRow(**by_id[cid]), d) for d, cid in matches.window]
    return RowPage(items, matches.total, matches.page, matches.per_page, matches.origin)
