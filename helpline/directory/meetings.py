"""Support groups (meetings) entered by staff: create and edit with validation, audited.

A meeting is in person (an address with a ZIP code, placed at the ZIP's centre) or online (a
link); its day and time are local to its time zone, as the Meeting Guide format has them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from helpline.directory import checks
from helpline.models import SupportGroup, User

FELLOWSHIPS: dict[str, str] = {
    "NA": "Narcotics Anonymous", "AA": "Alcoholics Anonymous", "SMART": "SMART Recovery",
    "Refuge": "Refuge Recovery", "other": "Other",
}
TWELVE_STEP = frozenset({"NA", "AA"})
DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


@dataclass
class GroupInput:
    name: str = ""
    fellowship: str = "NA"
    twelve_step: bool = True
    day: str = "0"
    time: str = ""
    timezone: str = ""
    duration_minutes: str = "60"
    mode: str = "in_person"  # or "online"
    street: str = ""
    city: str = ""
    state: str = ""
    zip_code: str = ""
    online_url: str = ""
    language: str = "en"
    notes: str = ""
    active: bool = True

    @classmethod
    def of(cls, group: SupportGroup) -> GroupInput:
        return cls(name=group.name, fellowship=group.fellowship,
                   twelve_step=group.twelve_step, day=str(group.day),
                   time=group.time.strftime("%H:%M"), timezone=group.timezone,
                   duration_minutes=str(group.duration_minutes),
                   mode="online" if group.attendance == "online" else "in_person",
                   street=group.street,
                   city=group.city, state=group.state, zip_code=group.zip_code,
                   online_url=group.online_url, language=group.language, notes=group.notes,
                   active=group.active)


def _checked(data: GroupInput) -> dict[str, object]:
    errors: dict[str, str] = {}
    values: dict[str, object] = {
        "name": checks.text(errors, "name", data.name, 255, required=True),
        "notes": checks.text(errors, "notes", data.notes, 2000),
        "language": checks.language(errors, "language", data.language),
        "active": bool(data.active),
    }
    if data.fellowship not in FELLOWSHIPS:
        errors["fellowship"] = "Choose a fellowship from the list."
    values["fellowship"] = data.fellowship
    values["twelve_step"] = bool(data.twelve_step)
    if data.day not in {str(d) for d in range(7)}:
        errors["day"] = "Choose a day of the week."
    else:
        values["day"] = int(data.day)
    try:
        values["time"] = dt.time.fromisoformat(data.time.strip())
    except ValueError:
        errors["time"] = "Give the local start time as HH:MM, e.g. 19:30."
    try:
        minutes = int(data.duration_minutes)
        if not 15 <= minutes <= 600:
            raise ValueError
        values["duration_minutes"] = minutes
    except ValueError:
        errors["duration_minutes"] = "Give the length in minutes, 15 to 600."
    online = data.mode == "online"
    values["attendance"] = "online" if online else "in_person"
    point = None
    if online:
        values["online_url"] = checks.url(errors, "online_url", data.online_url, limit=500,
                                          https_only=True)
        if not values["online_url"]:
            errors["online_url"] = "An online meeting needs its https:// link."
        values.update(street="", city="", state="", zip_code="", latitude=None,
                      longitude=None, approximate_location=False)
    else:
        point = checks.zip_code(errors, "zip_code", data.zip_code)
        values["street"] = checks.text(errors, "street", data.street, 255, required=True)
        values["city"] = checks.text(errors, "city", data.city, 120)
        values["state"] = checks.state(errors, data.state, point)
        values["online_url"] = ""
        if point is not None:
            values.update(zip_code=point.zip_code, latitude=point.latitude,
                          longitude=point.longitude, approximate_location=True)
            values["city"] = values["city"] or point.city
    zone = data.timezone.strip() or (point.timezone if point else "")
    try:
        ZoneInfo(zone)
        values["timezone"] = zone
    except (ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = "Give a time zone such as America/New_York."
    if errors:
        raise checks.EntryInvalid(errors)
    return values


def save_group(session: Session, group: SupportGroup | None, data: GroupInput, *, by: User,
               address: str | None = None) -> SupportGroup:
    """Create (``group`` None) or edit a meeting from the form; raises checks.EntryInvalid."""
    values = _checked(data)
    creating = group is None
    if group is None:
        group = SupportGroup(source="manual", source_id=str(uuid.uuid4()))
        session.add(group)
    changed = checks.assign(group, values)
    checks.audit_saved(session, group, "group", "support_group", creating=creating,
                       changed=changed, by=by, address=address)
    return group
