"""Import a Meeting Guide feed (code4recovery/spec): weekly meetings, in person, online, hybrid.

The feed is a JSON array of meetings. Only ``name`` and ``slug`` are required by the spec;
a meeting without ``day`` and ``time`` is "by appointment", which the directory cannot place
in a week, so it is refused with that reason. What each meeting becomes:

* **Identity.** The slug is the meeting's key in its feed. ``day`` may be a list: the meeting
  is stored as one row per weekday, ``source_id = "<slug>@<day>"``, ``source`` = the feed's own
  URL (a file's ``file://`` URI unless a URL is given for it). A re-import matches on these,
  changes only what differs, and retires (marks inactive) the rows its feed no longer holds.
* **Attendance.** A conference link or phone makes a meeting joinable from a distance; a
  specific address (a street, or coordinates not marked ``approximate: "yes"``) makes it held
  in person, unless its types say ``TC`` (location temporarily closed). Both: hybrid. A
  temporarily closed meeting with no link is kept, inactive.
* **Place.** ``latitude``/``longitude`` when given (approximate only when the feed says so),
  else the centre of ``postal_code`` (approximate); ``formatted_address`` is split into street,
  city, state and ZIP when the separate fields are missing.
* **Time zone.** The meeting's ``timezone``; else the feed's default (a supervisor's setting or
  ``--timezone``); else the time zone of its ZIP code, else of its state. Online meetings
  usually carry an approximate address for exactly this (the spec's own advice).
* **Types** are stored as given (local codes too); the language types (``S``, ``FR``...) set
  the meeting's language.

Nothing here reaches the network except :func:`read_feed` for an http(s) location, with a time
limit and a size limit.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline import audit
from helpline.db import utcnow
from helpline.directory import checks
from helpline.directory.geo import normalise_zip, zip_point
from helpline.directory.meeting_types import TEMPORARILY_CLOSED, meeting_language
from helpline.directory.meetings import FELLOWSHIPS, TWELVE_STEP
from helpline.models import SupportGroup

FETCH_SECONDS = 30.0
MAX_FEED_BYTES = 50 * 1024 * 1024
MAX_SLUG = 120  # "<slug>@<day>" fits source_id's 128 characters
DEFAULT_MINUTES = 60  # the spec: an hour when end_time is missing
US_COUNTRIES = {"", "us", "usa", "united states", "united states of america"}
# A state's main time zone, for meetings that give a state and nothing finer. States split
# between zones get the zone most of their people live in.
STATE_ZONES: dict[str, str] = {
    **dict.fromkeys(("CT", "DE", "DC", "FL", "GA", "IN", "ME", "MD", "MA", "MI", "NH", "NJ",
                     "NY", "NC", "OH", "PA", "RI", "SC", "VT", "VA", "WV", "KY"),
                    "America/New_York"),
    **dict.fromkeys(("AL", "AR", "IL", "IA", "KS", "LA", "MN", "MS", "MO", "NE", "ND", "OK",
                     "SD", "TN", "TX", "WI"), "America/Chicago"),
    **dict.fromkeys(("CO", "ID", "MT", "NM", "UT", "WY"), "America/Denver"),
    "AZ": "America/Phoenix",
    **dict.fromkeys(("CA", "NV", "OR", "WA"), "America/Los_Angeles"),
    "AK": "America/Anchorage", "HI": "Pacific/Honolulu", "PR": "America/Puerto_Rico",
    "VI": "America/St_Thomas", "GU": "Pacific/Guam",
}
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::\d{2})?$")
_ZIP_IN_TEXT = re.compile(r"\b(\d{5})(?:-\d{4})?\b")
_STATE_ZIP = re.compile(r"^([A-Za-z]{2})(?:\s+(\d{5})(?:-\d{4})?)?$")
_TAGS = re.compile(r"<[^>]*>")


class FeedError(Exception):
    """The feed cannot be read at all (not fetched, not JSON, not a list of meetings)."""


class Refused(ValueError):
    """One meeting that cannot be stored; the message is the reason, counted in the report."""


@dataclass(frozen=True)
class FeedOptions:
    source: str  # the feed's URL, or a file's file:// URI
    default_timezone: str = ""
    fellowship: str = "AA"


@dataclass
class ImportReport:
    source: str
    meetings: int = 0  # meetings in the feed
    imported: int = 0  # meetings stored (active or kept inactive as temporarily closed)
    closed: int = 0  # of those, temporarily closed with no link: kept inactive
    created: int = 0  # rows (one per weekday)
    updated: int = 0
    unchanged: int = 0
    retired: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    # The first refused meetings: (slug or position, reason).
    examples: list[tuple[str, str]] = field(default_factory=list)
    dry_run: bool = False

    @property
    def refused_count(self) -> int:
        return sum(self.refused.values())

    def counts(self) -> dict[str, Any]:
        return {"meetings": self.meetings, "imported": self.imported, "closed": self.closed,
                "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "retired": self.retired, "refused": dict(sorted(self.refused.items()))}

    def lines(self) -> list[str]:
        out = [f"{self.source}: {self.meetings} meetings in the feed, {self.imported} imported"
               + (f" ({self.closed} temporarily closed, kept inactive)" if self.closed else "")
               + f", {self.refused_count} refused" + (" (dry run: nothing written)"
                                                       if self.dry_run else ""),
               f"  rows (one per weekday): {self.created} new, {self.updated} changed, "
               f"{self.unchanged} unchanged, {self.retired} retired (gone from the feed)"]
        for reason, count in sorted(self.refused.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(f"  refused, {reason}: {count}")
        for where, reason in self.examples:
            out.append(f"    {where}: {reason}")
        return out


# --- reading ---------------------------------------------------------------------------------


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def read_feed(location: str, *, timeout: float = FETCH_SECONDS,
              max_bytes: int = MAX_FEED_BYTES) -> tuple[list[Any], str]:
    """The meetings of a feed (a file path or an http(s) URL) and its source name.

    A URL is fetched within ``timeout`` seconds in all (not per read: a server trickling
    bytes is cut off too) and at most ``max_bytes``.
    """
    if is_url(location):
        return parse_feed(_fetch(location, timeout, max_bytes)), location
    path = Path(location)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FeedError(f"cannot be read: {exc.strerror or exc}") from None
    return parse_feed(data), path.resolve().as_uri()


def _fetch(url: str, timeout: float, max_bytes: int) -> bytes:
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={
        "Accept": "application/json", "User-Agent": "helpline-meeting-import/1"})
    chunks: list[bytes] = []
    size = 0
    try:
        # Only http(s) reaches here (is_url); the timeout bounds each read, the deadline all.
        with urllib.request.urlopen(request, timeout=timeout) as response:
            while True:
                if time.monotonic() > deadline:
                    raise FeedError(f"not fetched within {timeout:g} s")
                chunk = response.read(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise FeedError(f"larger than {max_bytes // (1024 * 1024)} MB")
                chunks.append(chunk)
    except urllib.error.HTTPError as exc:
        raise FeedError(f"the server answered {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise FeedError(f"cannot be fetched: {exc.reason}") from None
    except (TimeoutError, OSError) as exc:
        raise FeedError(f"cannot be fetched: {exc}") from None
    return b"".join(chunks)


def parse_feed(data: bytes) -> list[Any]:
    """The JSON array of meetings; :class:`FeedError` for anything else."""
    try:
        meetings = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FeedError(f"not JSON ({exc})") from None
    if not isinstance(meetings, list):
        raise FeedError("not a Meeting Guide feed: the spec's feed is a JSON array of meetings")
    return meetings


# --- one meeting -----------------------------------------------------------------------------


def _plain(value: Any, limit: int | None = None) -> str:
    """Text as the spec has it: plain, HTML stripped, entities decoded."""
    if value is None or isinstance(value, bool | dict | list):
        return ""
    text = html.unescape(_TAGS.sub(" ", str(value)))
    text = "\n".join(" ".join(line.split()) for line in text.splitlines()).strip()
    return text[:limit] if limit else text


def _days(value: Any) -> list[int]:
    values = value if isinstance(value, list) else [value]
    days: list[int] = []
    for v in values:
        if isinstance(v, bool):
            raise Refused("day is not 0 (Sunday) to 6 (Saturday)")
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v.strip())
        if not isinstance(v, int) or not 0 <= v <= 6:
            raise Refused("day is not 0 (Sunday) to 6 (Saturday)")
        if v not in days:
            days.append(v)
    return days


def _time(value: Any) -> dt.time | None:
    m = _TIME.match(value.strip()) if isinstance(value, str) else None
    if m is None or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        return None
    return dt.time(int(m.group(1)), int(m.group(2)))


def _minutes(start: dt.time, end: dt.time | None) -> int:
    if end is None:
        return DEFAULT_MINUTES
    minutes = (end.hour * 60 + end.minute - start.hour * 60 - start.minute) % (24 * 60)
    return minutes if 0 < minutes <= 12 * 60 else DEFAULT_MINUTES


def _zone(name: Any) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return None
    try:
        ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name.strip()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN


def _link(value: Any) -> str:
    url = _plain(value)
    if not url or " " in url:
        return ""
    if "://" not in url and re.match(r"^[\w.-]+\.[a-z]{2,}(/|$)", url, re.IGNORECASE):
        url = "https://" + url  # "zoom.us/j/123": a link without its scheme
    return url if re.match(r"^https?://\S+$", url) and len(url) <= 500 else ""


@dataclass
class _Place:
    street: str = ""
    city: str = ""
    state: str = ""
    zip_code: str = ""
    country: str = ""


def _place(m: dict[str, Any]) -> _Place:
    place = _Place(street=_plain(m.get("address"), 255), city=_plain(m.get("city"), 120),
                   state=_plain(m.get("state")), zip_code=_plain(m.get("postal_code"), 10),
                   country=_plain(m.get("country")))
    formatted = _plain(m.get("formatted_address"))
    if formatted and not (place.street or place.city or place.zip_code):
        parts = [p.strip() for p in formatted.split(",") if p.strip()]
        if parts and parts[-1].lower() in US_COUNTRIES - {""}:
            place.country = parts.pop()
        if parts and (found := _STATE_ZIP.match(parts[-1])):
            place.state, place.zip_code = found.group(1), found.group(2) or ""
            parts.pop()
        elif parts and (zip_found := _ZIP_IN_TEXT.search(parts[-1])):
            place.zip_code = zip_found.group(1)
        if parts:
            place.city = parts.pop()[:120]
        place.street = ", ".join(parts)[:255]
    place.state = place.state.upper() if re.fullmatch(r"[A-Za-z]{2}", place.state) else ""
    return place


def meeting_rows(m: Any, options: FeedOptions) -> list[dict[str, Any]]:
    """The rows (one per weekday) a feed's meeting becomes; :class:`Refused` says why not."""
    if not isinstance(m, dict):
        raise Refused("not a meeting (a JSON object)")
    name = _plain(m.get("name"), 255)
    if not name:
        raise Refused("no name")
    slug_value = m.get("slug")
    slug = str(slug_value).strip() if isinstance(slug_value, str | int) and not isinstance(
        slug_value, bool) else ""
    if not slug:
        raise Refused("no slug")
    if len(slug) > MAX_SLUG:
        raise Refused(f"slug longer than {MAX_SLUG} characters")
    if m.get("day") in (None, "", []) or m.get("time") in (None, ""):
        raise Refused("no day and time (by appointment)")
    days = _days(m.get("day"))
    start = _time(m.get("time"))
    if start is None:
        raise Refused("time is not HH:MM")
    raw_types = m.get("types") or []
    if isinstance(raw_types, str):
        raw_types = raw_types.split(",")
    types = list(dict.fromkeys(
        t.strip()[:16] for t in raw_types if isinstance(t, str) and t.strip()))
    closed = TEMPORARILY_CLOSED in types

    place = _place(m)
    zip_code = normalise_zip(place.zip_code) or ""
    point = zip_point(zip_code) if zip_code and place.country.lower() in US_COUNTRIES else None
    latitude, longitude = _number(m.get("latitude")), _number(m.get("longitude"))
    given_point = (latitude is not None and longitude is not None
                   and -90 <= latitude <= 90 and -180 <= longitude <= 180
                   and (latitude, longitude) != (0.0, 0.0))
    said_approximate = _plain(m.get("approximate")).lower() == "yes"
    if given_point:
        approximate = said_approximate
    elif point is not None:
        latitude, longitude, approximate = point.latitude, point.longitude, True
    else:
        latitude = longitude = None
        approximate = True
    specific = (bool(place.street) and not said_approximate) or (given_point and not approximate)

    online_url = _link(m.get("conference_url"))
    phone = _plain(m.get("conference_phone"), 64)
    remote = bool(online_url or phone)
    held_in_person = not closed and (specific or (not remote and latitude is not None))
    if remote and held_in_person:
        attendance = "hybrid"
    elif remote:
        attendance = "online"
    elif latitude is not None or place.street or closed:
        attendance = "in_person"
    else:
        raise Refused("neither a place nor a conference link or phone")

    zone = (_zone(m.get("timezone")) or _zone(options.default_timezone)
            or (point.timezone if point else None)
            or STATE_ZONES.get(place.state or (point.state if point else "")))
    if zone is None:
        raise Refused("no time zone (none in the meeting or for the feed, no US ZIP or state)")

    notes = "\n\n".join(n for n in (_plain(m.get("notes")), _plain(m.get("location_notes")))
                        if n)
    fellowship = options.fellowship if options.fellowship in FELLOWSHIPS else "other"
    common: dict[str, Any] = {
        "name": name, "fellowship": fellowship, "twelve_step": fellowship in TWELVE_STEP,
        "time": start, "timezone": zone,
        "duration_minutes": _minutes(start, _time(m.get("end_time"))),
        "street": place.street, "city": place.city or (point.city if point else ""),
        "state": place.state or (point.state if point else ""), "zip_code": zip_code,
        "latitude": latitude, "longitude": longitude, "approximate_location": approximate,
        "online_url": online_url, "conference_phone": phone,
        "conference_url_notes": _plain(m.get("conference_url_notes")),
        "conference_phone_notes": _plain(m.get("conference_phone_notes")),
        "attendance": attendance, "language": meeting_language(types), "types": types,
        "location": _plain(m.get("location"), 255), "listing_url": _link(m.get("url")),
        "notes": notes, "slug": slug, "active": not (closed and not remote),
    }
    return [{**common, "day": day, "source_id": f"{slug}@{day}"} for day in days]


# --- a whole feed ----------------------------------------------------------------------------


def import_meetings(session: Session, meetings: Iterable[Any], options: FeedOptions, *,
                    dry_run: bool = False, now: dt.datetime | None = None,
                    actor: str = "meeting-import") -> ImportReport:
    """Store a feed's meetings under ``options.source``, in the caller's transaction.

    Rows are matched on (source, "<slug>@<day>"); only what differs is written, so importing
    the same feed twice changes nothing. Rows of this source the feed no longer holds are
    retired (inactive, kept for the referrals that point to them). One audit event names the
    counts. ``dry_run`` counts without writing.
    """
    now = now or utcnow()
    report = ImportReport(options.source, dry_run=dry_run)
    existing = {g.source_id: g for g in session.scalars(
        select(SupportGroup).where(SupportGroup.source == options.source))}
    seen_slugs: set[str] = set()
    seen_rows: set[str] = set()
    for position, m in enumerate(meetings, start=1):
        report.meetings += 1
        where = (str(m.get("slug")) if isinstance(m, dict) and m.get("slug") not in (None, "")
                 else f"meeting {position}")
        try:
            rows = meeting_rows(m, options)
            if rows[0]["slug"] in seen_slugs:
                raise Refused("slug repeated in the feed (the first one is kept)")
        except Refused as exc:
            report.refused[str(exc)] += 1
            if len(report.examples) < 20:
                report.examples.append((where[:80], str(exc)))
            continue
        seen_slugs.add(rows[0]["slug"])
        report.imported += 1
        report.closed += not rows[0]["active"]
        for values in rows:
            seen_rows.add(values["source_id"])
            group = existing.get(values["source_id"])
            if group is None:
                report.created += 1
                if not dry_run:
                    session.add(SupportGroup(source=options.source, last_verified_at=now,
                                             **values))
                continue
            changed = ([k for k, v in values.items() if getattr(group, k) != v] if dry_run
                       else checks.assign(group, values))
            if changed:
                report.updated += 1
            else:
                report.unchanged += 1
    # A feed with nothing to import is more likely broken than emptied: its meetings stay.
    retiring = existing.items() if report.imported else ()
    for source_id, group in retiring:
        if source_id not in seen_rows and group.active:
            report.retired += 1
            if not dry_run:
                group.active = False
    if not dry_run:
        session.flush()
        if report.created or report.updated or report.retired:
            audit.record(session, "directory.meetings.import", actor=actor,
                         record_type="meeting_feed", record_id=None,
                         detail={"source": options.source[:200], **report.counts()})
    return report
