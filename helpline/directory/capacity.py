"""Treatment capacity of a center: whether it accepts new patients, has a waitlist (and how
long), offers same-day medication for opioid use disorder, and who confirmed it when.

No import carries capacity: counselors learn it on calls and supervisors when they verify an
entry, so every value may be unknown (None), and each confirmation is dated and audited.
Capacity filters combine with AND (accepting and same-day MOUD), unlike offering filters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import ColumnElement

from helpline.db import utcnow
from helpline.directory.center_tables import CENTERS
from helpline.directory.vocabulary import UnknownOffering
from helpline.plurals import plural

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from helpline.models import TreatmentCenter, User

MAX_WAITLIST_DAYS = 730

FILTERS: dict[str, str] = {
    "accepting": "Accepting new patients",
    "no_waitlist": "No waitlist",
    "same_day_moud": "Same-day medication for opioid use disorder",
}
_ALIASES = {
    "accepting": "accepting", "accepting_new_patients": "accepting", "open": "accepting",
    "no_waitlist": "no_waitlist", "no_wait": "no_waitlist",
    "same_day_moud": "same_day_moud", "same_day": "same_day_moud",
    "same_day_mat": "same_day_moud",
}
# Not offered to staff, who see every center with its capacity: the IVR locator leaves out
# only the centers confirmed not to take new patients (unknown may still take them).
NOT_FULL = "not_full"


class CapacityFacts(Protocol):
    """What the phrases below read of a center: a TreatmentCenter, or a row of the search
    that `helpline directory search` prints (center_query.CenterRecord)."""

    @property
    def accepting_patients(self) -> bool | None: ...
    @property
    def waitlist(self) -> bool | None: ...
    @property
    def waitlist_days(self) -> int | None: ...
    @property
    def same_day_moud(self) -> bool | None: ...
    @property
    def capacity_confirmed_at(self) -> dt.datetime | None: ...


class CapacityError(ValueError):
    """A capacity value that cannot be stored (the message says which)."""


@dataclass(frozen=True)
class Capacity:
    accepting_patients: bool | None = None
    waitlist: bool | None = None
    waitlist_days: int | None = None
    same_day_moud: bool | None = None


def normalise_filters(values: str | Iterable[str] | None) -> tuple[str, ...]:
    """"accepting", "same-day" ... → the filter names of :data:`FILTERS`."""
    if not values:
        return ()
    if isinstance(values, str):
        values = (values,)
    names: list[str] = []
    for value in values:
        key = value.strip().lower().replace("-", "_").replace(" ", "_")
        name = NOT_FULL if key == NOT_FULL else _ALIASES.get(key)
        if name is None:
            raise UnknownOffering(f"unknown capacity filter: {value!r}")
        if name not in names:
            names.append(name)
    return tuple(names)


def filter_clauses(values: str | Iterable[str] | None) -> list[ColumnElement[bool]]:
    """SQL conditions for capacity filters: only what was confirmed counts (unknown is no)."""
    clauses: list[ColumnElement[bool]] = []
    for name in normalise_filters(values):
        if name == "accepting":
            clauses.append(CENTERS.c.accepting_patients.is_(True))
        elif name == "no_waitlist":
            clauses.append(CENTERS.c.waitlist.is_(False))
        elif name == NOT_FULL:
            clauses.append(CENTERS.c.accepting_patients.is_not(False))
        else:
            clauses.append(CENTERS.c.same_day_moud.is_(True))
    return clauses


def checked(capacity: Capacity) -> Capacity:
    """The capacity as it will be stored; raises CapacityError for an impossible one."""
    days = capacity.waitlist_days
    if days is not None and not 0 <= days <= MAX_WAITLIST_DAYS:
        raise CapacityError(f"the waitlist length must be 0 to {MAX_WAITLIST_DAYS} days")
    waitlist = capacity.waitlist
    if days and waitlist is None:
        waitlist = True
    if waitlist is False and days:
        raise CapacityError("a waitlist length was given for a center without a waitlist")
    return Capacity(capacity.accepting_patients, waitlist, days if waitlist else None,
                    capacity.same_day_moud)


def current(center: TreatmentCenter) -> Capacity:
    return Capacity(center.accepting_patients, center.waitlist, center.waitlist_days,
                    center.same_day_moud)


def confirm_capacity(session: Session, center: TreatmentCenter, capacity: Capacity, *,
                     by: User, address: str | None = None,
                     now: dt.datetime | None = None) -> Capacity:
    """Record the capacity just confirmed with the center (the same values count as a
    confirmation too), with who and when, and audit it."""
    from helpline import audit

    value = checked(capacity)
    center.accepting_patients = value.accepting_patients
    center.waitlist = value.waitlist
    center.waitlist_days = value.waitlist_days
    center.same_day_moud = value.same_day_moud
    center.capacity_confirmed_at = now or utcnow()
    center.capacity_confirmed_by = by.username
    audit.record(session, "directory.center.capacity", actor=by, record_type="treatment_center",
                 record_id=center.id, address=address, detail={
                     "accepting_patients": value.accepting_patients, "waitlist": value.waitlist,
                     "waitlist_days": value.waitlist_days, "same_day_moud": value.same_day_moud})
    session.flush()
    return value


def days_since_confirmed(center: CapacityFacts, now: dt.datetime | None = None) -> int | None:
    if center.capacity_confirmed_at is None:
        return None
    return max(0, ((now or utcnow()) - center.capacity_confirmed_at).days)


def confirmed_phrase(center: CapacityFacts, now: dt.datetime | None = None) -> str:
    """"confirmed today", "confirmed 1 day ago", "confirmed 12 days ago" or "not confirmed"."""
    days = days_since_confirmed(center, now)
    if days is None:
        return "not confirmed"
    if days == 0:
        return "confirmed today"
    return f"confirmed {days} day{'s' if days != 1 else ''} ago"


def status_parts(center: CapacityFacts) -> list[str]:
    """What is known of the capacity, in short phrases (empty when nothing is)."""
    parts: list[str] = []
    if center.accepting_patients is not None:
        parts.append("accepting new patients" if center.accepting_patients
                     else "not accepting new patients")
    if center.waitlist:
        parts.append(f"waitlist of about {plural(center.waitlist_days, 'day')}"
                     if center.waitlist_days else "waitlist")
    elif center.waitlist is False:
        parts.append("no waitlist")
    if center.same_day_moud is not None:
        parts.append("same-day MOUD" if center.same_day_moud else "no same-day MOUD")
    return parts


def summary(center: CapacityFacts, now: dt.datetime | None = None) -> str:
    """One line for results: "Accepting new patients · no waitlist · confirmed 3 days ago"."""
    parts = status_parts(center)
    if not parts:
        return "Capacity not known"
    text = " · ".join([*parts, confirmed_phrase(center, now)])
    return text[0].upper() + text[1:]


def as_dict(center: CapacityFacts, now: dt.datetime | None = None) -> dict[str, object]:
    """Capacity for JSON output."""
    return {
        "accepting_patients": center.accepting_patients,
        "waitlist": center.waitlist,
        "waitlist_days": center.waitlist_days,
        "same_day_moud": center.same_day_moud,
        "confirmed_at": (center.capacity_confirmed_at.isoformat()
                         if center.capacity_confirmed_at else None),
        "confirmed_days_ago": days_since_confirmed(center, now),
    }
