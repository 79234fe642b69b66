"""A center as imports and the demo generator produce it, before it is a row; bulk insert; the
checks every imported row passes (lengths, coordinates, a known ZIP code)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, insert
from sqlalchemy.orm import Session

from helpline.directory import vocabulary
from helpline.directory.geo import haversine_miles, normalise_zip, zip_point
from helpline.models.directory import CenterSchedule, CenterService, TreatmentCenter

# Columns of TreatmentCenter that an import may set (and compare on re-import).
CENTER_FIELDS = ("name", "alternate_name", "street1", "street2", "city", "state", "zip_code",
                 "phone", "intake_phone", "website", "facility_type", "description",
                 "latitude", "longitude", "approximate_location", "active")


@dataclass
class CenterRecord:
    source: str
    source_id: str
    fields: dict[str, Any]
    # (facet, code) pairs in the vocabulary; labels and code list are filled in on insert.
    offerings: set[tuple[str, str]] = field(default_factory=set)
    extra: dict[str, Any] = field(default_factory=dict)
    # Opening hours as CenterSchedule column values, in order; None: the source has no word
    # on them (they stay as they are).
    schedules: list[dict[str, Any]] | None = None
    # What was changed on the way in, for the import report ("flagged record 3: ...").
    flags: list[str] = field(default_factory=list)


class ImportRefused(ValueError):
    """The file is not what it claims to be: nothing in it is imported (one line says why)."""


class RowError(ValueError):
    """One row cannot be used (the message is the reason shown to the person importing)."""


@dataclass
class Rejection:
    where: str  # "record 3", "locations.csv line 5"
    reason: str


@dataclass
class ParsedFile:
    """What a reader made of a file: records (each with where it came from) and bad rows."""

    format: str
    records: list[tuple[str, CenterRecord]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    # What the file holds that the directory has no place for ("funding.csv (3 rows)").
    ignored: list[str] = field(default_factory=list)


def _string_lengths() -> dict[str, int]:
    return {c.name: c.type.length for c in TreatmentCenter.__table__.columns
            if isinstance(c.type, String) and c.type.length and c.name in CENTER_FIELDS}


_LENGTHS = _string_lengths()


def check_lengths(fields: dict[str, Any]) -> None:
    """Refuse a row whose text would not fit its column (PostgreSQL would refuse the file)."""
    for name, limit in _LENGTHS.items():
        value = fields.get(name)
        if isinstance(value, str) and len(value) > limit:
            raise RowError(f"{name.replace('_', ' ')} is longer than {limit} characters")


def _coordinate(raw: Any, name: str, limit: float) -> float | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise RowError(f"{name} {str(raw)[:40]!r} is not a number") from None
    if not math.isfinite(value) or abs(value) > limit:
        raise RowError(f"{name} {value} is out of range")
    return value


# Coordinates farther than this from their ZIP code's centre are not that ZIP's: the largest
# ZIP areas (rural Alaska, Nevada) reach about this far from their centre, and a wrong sign or
# a row's coordinates pasted into another's lands hundreds or thousands of miles away, where
# no search near the address would ever find the entry.
PLAUSIBLE_MILES = 100.0


@dataclass(frozen=True)
class Place:
    zip_code: str
    latitude: float
    longitude: float
    approximate: bool
    zip_state: str  # the ZIP code's state, for an address that names none
    # Why the coordinates given were not used (they were implausible for the ZIP code).
    flag: str | None = None

    def flags(self) -> list[str]:
        return [self.flag] if self.flag else []

    def fields(self) -> dict[str, Any]:
        return {"zip_code": self.zip_code, "latitude": self.latitude,
                "longitude": self.longitude, "approximate_location": self.approximate}


def place(zip_raw: Any, latitude_raw: Any, longitude_raw: Any) -> Place:
    """ZIP code and point of an address.

    Every entry needs a known US ZIP code. Without coordinates (or with 0, 0, which some
    exports write for "none") the point is the ZIP's centre, marked approximate. Coordinates
    more than :data:`PLAUSIBLE_MILES` from the ZIP's centre are flagged and replaced by it:
    the ZIP code is what a person searching by it gives.
    """
    raw_zip = "" if zip_raw is None else str(zip_raw).strip()
    if not raw_zip:
        raise RowError("no ZIP code")
    zip_code = normalise_zip(raw_zip)
    if zip_code is None:
        raise RowError(f"{raw_zip[:20]!r} is not a ZIP code")
    point = zip_point(zip_code)
    if point is None:
        raise RowError(f"unknown ZIP code {zip_code}")
    lat = _coordinate(latitude_raw, "latitude", 90.0)
    lon = _coordinate(longitude_raw, "longitude", 180.0)
    if (lat is None) != (lon is None):
        raise RowError("latitude without longitude, or the other way round")
    if lat is None or lon is None or (lat == 0 and lon == 0):
        return Place(zip_code, point.latitude, point.longitude, True, point.state)
    miles = haversine_miles(point.latitude, point.longitude, lat, lon)
    if miles > PLAUSIBLE_MILES:
        return Place(zip_code, point.latitude, point.longitude, True, point.state,
                     f"latitude {lat}, longitude {lon} are {miles:,.0f} miles from ZIP "
                     f"code {zip_code} ({point.city}, {point.state}): placed at the ZIP "
                     "code's center instead")
    return Place(zip_code, lat, lon, False, point.state)


def service_rows(center_id: int, offerings: set[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"center_id": center_id, "facet": facet, "code": code,
             "label": vocabulary.label_for(facet, code), "code_list": vocabulary.CODE_LIST}
            for facet, code in sorted(offerings)]


def bulk_insert_centers(session: Session, records: list[CenterRecord],
                        chunk: int = 2000) -> list[int]:
    """Insert new centers and their offerings in a few statements; returns their ids in order.

    Records inserted together must set the same fields (one statement per chunk).
    """
    ids: list[int] = []
    for start in range(0, len(records), chunk):
        part = records[start:start + chunk]
        rows = [{**r.fields, "source": r.source, "source_id": r.source_id,
                 "source_extra": r.extra} for r in part]
        new_ids = list(session.scalars(
            insert(TreatmentCenter).returning(TreatmentCenter.id, sort_by_parameter_order=True),
            rows,
        ))
        services = [row for cid, r in zip(new_ids, part, strict=True)
                    for row in service_rows(cid, r.offerings)]
        if services:
            session.execute(insert(CenterService), services)
        schedules = [{**values, "center_id": cid, "position": position}
                     for cid, r in zip(new_ids, part, strict=True)
                     for position, values in enumerate(r.schedules or ())]
        if schedules:
            session.execute(insert(CenterSchedule), schedules)
        ids.extend(new_ids)
    return ids
