"""ZIP codes to points, offline, and great-circle distances.

ZIP data comes from the `zipcodes` package (coordinates from GeoNames, CC BY 4.0). A ZIP code's
point is the centre of its area, not an address: in rural ZIPs it can be several miles off, so
any distance measured from or to a ZIP centre is approximate.

One ZIP code is read from the shipped file of the same rows (helpline.directory.zip_file), a
block at a time: a command that looks up one ZIP code answers without building the whole table.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass

from helpline.directory.zip_file import open_zip_file, package_rows

EARTH_RADIUS_MILES = 3958.8


@dataclass(frozen=True)
class ZipPoint:
    zip_code: str
    latitude: float
    longitude: float
    timezone: str
    state: str
    city: str


_ZIPS: dict[str, ZipPoint] | None = None
_LOCK = threading.Lock()


def _zip_table() -> dict[str, ZipPoint]:
    # zipcodes.matching() scans its whole list on every call; build a dict once instead.
    global _ZIPS
    if _ZIPS is None:
        with _LOCK:
            if _ZIPS is None:
                _ZIPS = {z: ZipPoint(z, lat, lon, tz, state, city)
                         for z, lat, lon, state, tz, city in package_rows()}
    return _ZIPS


def normalise_zip(zip_code: str | int | None) -> str | None:
    """"10001", "10001-1234", " 10001 " → "10001"; anything else → None."""
    if zip_code is None:
        return None
    m = re.fullmatch(r"\s*(\d{5})(?:-?\d{4})?\s*", str(zip_code))
    return m.group(1) if m else None


def zip_point(zip_code: str | int | None) -> ZipPoint | None:
    """The centre of a US ZIP code, or None for a malformed or unknown one."""
    z = normalise_zip(zip_code)
    if not z:
        return None
    shipped = open_zip_file() if _ZIPS is None else None
    if shipped is None:
        return _zip_table().get(z)
    row = shipped.row(z)
    if row is None:
        return None
    z, lat, lon, state, tz, city = row
    return ZipPoint(z, lat, lon, tz, state, city)


def all_zip_points() -> list[ZipPoint]:
    """Every known ZIP point, in ZIP order (the demo generator spreads centers over them)."""
    return sorted(_zip_table().values(), key=lambda p: p.zip_code)


def haversine_miles(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in miles on a sphere of radius 3958.8 miles."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class BoundingBox:
    """Latitude range and one or two longitude ranges (two when it crosses the antimeridian)."""

    min_lat: float
    max_lat: float
    lon_ranges: tuple[tuple[float, float], ...]  # empty: every longitude


def bounding_box(lat: float, lon: float, miles: float) -> BoundingBox:
    """The smallest lat/lon box that holds every point within ``miles`` of (lat, lon).

    Uses the exact extent of a spherical cap (the widest longitude is reached away from the
    centre's parallel), widened by a hair so that float rounding never drops a point on the edge.
    """
    angular = miles / EARTH_RADIUS_MILES
    pad = 1e-7
    dlat = math.degrees(angular) + pad
    min_lat, max_lat = lat - dlat, lat + dlat
    if max_lat >= 90 or min_lat <= -90 or angular >= math.pi / 2:
        return BoundingBox(max(min_lat, -90.0), min(max_lat, 90.0), ())
    ratio = math.sin(angular) / math.cos(math.radians(lat))
    if ratio >= 1:
        return BoundingBox(min_lat, max_lat, ())
    dlon = math.degrees(math.asin(ratio)) + pad
    lo, hi = lon - dlon, lon + dlon
    if lo < -180:
        ranges: tuple[tuple[float, float], ...] = ((lo + 360, 180.0), (-180.0, hi))
    elif hi > 180:
        ranges = ((lo, 180.0), (-180.0, hi - 360))
    else:
        ranges = ((lo, hi),)
    return BoundingBox(min_lat, max_lat, ranges)
