"""Opening hours: HSDS 3.0 schedules read from a row, written back to one, and put into words.

A schedule is an iCalendar-like recurrence (``freq`` WEEKLY or MONTHLY, ``byday`` "MO,TU",
``bymonthday`` "1,15") with the hours it is open (``opens_at``, ``closes_at``), a period of
validity and a free-text description. Every field is stored as the source gave it (see
CenterSchedule) so that an export writes it back unchanged; staff read :func:`describe`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.directory.records import RowError
from helpline.models.directory import CenterSchedule

TEXT_FIELDS = ("byday", "bymonthday", "byweekno", "byyearday", "description", "notes",
               "attending_type", "schedule_link")
DATE_FIELDS = ("dtstart", "until", "valid_from", "valid_to")
TIME_FIELDS = ("opens_at", "closes_at")
INTEGER_FIELDS = ("interval", "count")
FREQUENCIES = ("WEEKLY", "MONTHLY")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_DAY_NAMES = dict(zip(WEEKDAYS, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
                      strict=True))
# The columns of a stored schedule that come from the source's row.
VALUE_FIELDS = ("freq", "wkst", "timezone", *INTEGER_FIELDS, *DATE_FIELDS, *TIME_FIELDS,
                *TEXT_FIELDS)
# Every column of a stored schedule but its row id, center and position.
STORED_FIELDS = ("source_id", "link_type", "link_id", *VALUE_FIELDS)
_LENGTHS = {"byday": 64, "bymonthday": 128, "byweekno": 128, "byyearday": 255,
            "attending_type": 255, "schedule_link": 500}


def _number(text: str, name: str) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise RowError(f"{name} {text[:20]!r} is not a number") from None
    if not math.isfinite(value):
        raise RowError(f"{name} {text[:20]!r} is not a number")
    return value


def _integer(text: str, name: str) -> int | None:
    value = _number(text, name)
    if value is None:
        return None
    if value != int(value) or value < 0 or value > 1_000_000:
        raise RowError(f"{name} {text[:20]!r} is not a whole number")
    return int(value)


def _date(text: str, name: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise RowError(f"{name} {text[:20]!r} is not a date (YYYY-MM-DD)") from None


def _time(text: str, name: str) -> dt.time | None:
    if not text:
        return None
    if not re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", text):
        raise RowError(f"{name} {text[:20]!r} is not a time (HH:MM:SS)")
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        raise RowError(f"{name} {text[:20]!r} is not a time (HH:MM:SS)") from None


def values_from_row(get: Callable[[str], str]) -> dict[str, Any]:
    """The stored values of one HSDS schedules.csv row (``get`` gives a stripped cell).

    Raises RowError naming the first value that is not what HSDS 3.0 says it is.
    """
    freq, wkst = get("freq").upper(), get("wkst").upper()
    if freq and freq not in FREQUENCIES:
        raise RowError(f"freq {freq[:20]!r} is not WEEKLY or MONTHLY")
    if wkst and wkst not in WEEKDAYS:
        raise RowError(f"wkst {wkst[:20]!r} is not a day (MO to SU)")
    timezone = _number(get("timezone"), "timezone")
    if timezone is not None and abs(timezone) > 14:
        raise RowError(f"timezone {timezone:g} is not an offset from UTC in hours")
    values: dict[str, Any] = {"freq": freq, "wkst": wkst, "timezone": timezone}
    values.update({name: _integer(get(name), name) for name in INTEGER_FIELDS})
    values.update({name: _date(get(name), name) for name in DATE_FIELDS})
    values.update({name: _time(get(name), name) for name in TIME_FIELDS})
    for name in TEXT_FIELDS:
        text = get(name)
        if name in _LENGTHS and len(text) > _LENGTHS[name]:
            raise RowError(f"{name} is longer than {_LENGTHS[name]} characters")
        values[name] = text
    return values


def stored_values(schedule: CenterSchedule) -> dict[str, Any]:
    """A stored schedule as an import's record gives it (to see whether a re-import changes
    anything)."""
    return {name: getattr(schedule, name) for name in STORED_FIELDS}


def number_text(value: float | int | None) -> str:
    """A number as an export writes it: no trailing ".0" on a whole one."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def row_from_values(schedule: CenterSchedule) -> dict[str, str]:
    """The schedules.csv cells of a stored schedule (links and id are the caller's)."""
    cells = {"freq": schedule.freq, "wkst": schedule.wkst,
             "timezone": number_text(schedule.timezone)}
    cells.update({name: number_text(getattr(schedule, name)) for name in INTEGER_FIELDS})
    for name in DATE_FIELDS:
        value = getattr(schedule, name)
        cells[name] = value.isoformat() if value else ""
    for name in TIME_FIELDS:
        value = getattr(schedule, name)
        cells[name] = value.strftime("%H:%M:%S") if value else ""
    cells.update({name: getattr(schedule, name) for name in TEXT_FIELDS})
    return cells


def _hours(schedule: CenterSchedule) -> str:
    opens, closes = schedule.opens_at, schedule.closes_at
    if opens and closes:
        return f"{opens:%H:%M}–{closes:%H:%M}"
    if opens:
        return f"from {opens:%H:%M}"
    if closes:
        return f"until {closes:%H:%M}"
    return ""


def describe(schedule: CenterSchedule) -> str:
    """One schedule in the words staff read: "Thu, Fri 10:00–18:00", then its description."""
    days = [d.strip().upper() for d in schedule.byday.split(",") if d.strip()]
    when = ""
    if days and all(d[-2:] in _DAY_NAMES for d in days):
        # "1MO" (the first Monday) keeps its ordinal: "1st Mon" is not worth the guesswork.
        when = ", ".join(_DAY_NAMES[d] if d in _DAY_NAMES else f"{d[:-2]} {_DAY_NAMES[d[-2:]]}"
                         for d in days)
    elif schedule.freq == "MONTHLY" and schedule.bymonthday:
        when = f"monthly on day {schedule.bymonthday.replace(',', ', ')}"
    parts = [p for p in (when, _hours(schedule)) if p]
    text = " ".join(parts)
    if schedule.description:
        text = f"{text}. {schedule.description}" if text else schedule.description
    return text


def opening_hours(session: Session, center_ids: Iterable[int]) -> dict[int, list[str]]:
    """The opening hours of each center, in words, in the source's order (one query)."""
    ids = sorted(set(center_ids))
    hours: dict[int, list[str]] = defaultdict(list)
    if not ids:
        return hours
    for schedule in session.scalars(
        select(CenterSchedule).where(CenterSchedule.center_id.in_(ids))
        .order_by(CenterSchedule.center_id, CenterSchedule.position)
    ):
        text = describe(schedule)
        if text:
            hours[schedule.center_id].append(text)
    return hours
