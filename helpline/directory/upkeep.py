"""Upkeep of treatment centers by staff: create and edit with validation, mark verified, and
the list of centers nobody has verified for six months. Every change is audited."""

from __future__ import annotations

import calendar
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, lazyload

from helpline import audit
from helpline.db import utcnow
from helpline.directory import checks, vocabulary
from helpline.models import CenterService, TreatmentCenter, User

STALE_MONTHS = 6
#: The longest text each field of the edit form takes (the form tells the browser the same).
TEXT_LIMITS = {"name": 255, "alternate_name": 255, "street1": 255, "street2": 255,
               "city": 120}
DESCRIPTION_LIMIT = 5000


@dataclass
class CenterInput:
    """What the edit form sends: text as typed, offerings as codes per facet."""

    name: str = ""
    alternate_name: str = ""
    street1: str = ""
    street2: str = ""
    city: str = ""
    state: str = ""
    zip_code: str = ""
    latitude: str = ""
    longitude: str = ""
    phone: str = ""
    intake_phone: str = ""
    website: str = ""
    description: str = ""
    active: bool = True
    offerings: dict[str, Sequence[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, center: TreatmentCenter) -> CenterInput:
        """The form's starting values for an existing center (blank point if approximate)."""
        exact = not center.approximate_location and center.latitude is not None
        return cls(**{name: getattr(center, name) for name in (
            "name", "alternate_name", "street1", "street2", "city", "state", "zip_code",
            "phone", "intake_phone", "website", "description", "active")},
            latitude=repr(center.latitude) if exact else "",
            longitude=repr(center.longitude) if exact else "",
            offerings={facet: center.codes(facet) for facet in vocabulary.FACETS})


def _checked(data: CenterInput) -> dict[str, object]:
    errors: dict[str, str] = {}
    values: dict[str, object] = {
        name: checks.text(errors, name, getattr(data, name), limit, required=name == "name")
        for name, limit in TEXT_LIMITS.items()}
    point = checks.zip_code(errors, "zip_code", data.zip_code)
    values["state"] = checks.state(errors, data.state, point)
    values["phone"] = checks.phone(errors, "phone", data.phone)
    values["intake_phone"] = checks.phone(errors, "intake_phone", data.intake_phone)
    values["website"] = checks.url(errors, "website", data.website)
    values["description"] = checks.text(errors, "description", data.description,
                                       DESCRIPTION_LIMIT)
    values["active"] = bool(data.active)
    exact = checks.coordinates(errors, data.latitude, data.longitude)
    for facet, codes in data.offerings.items():
        unknown = [c for c in codes if (facet, c) not in vocabulary.BY_CODE]
        if facet not in vocabulary.FACETS or unknown:
            errors[f"offer_{facet}"] = "Choose from the boxes shown."
    if errors:
        raise checks.EntryInvalid(errors)
    assert point is not None
    values["zip_code"] = point.zip_code
    if exact is None:
        values.update(latitude=point.latitude, longitude=point.longitude,
                      approximate_location=True)
    else:
        values.update(latitude=exact[0], longitude=exact[1], approximate_location=False)
    return values


def _set_offerings(center: TreatmentCenter, offerings: Mapping[str, Sequence[str]]) -> bool:
    wanted = {(facet, code) for facet, codes in offerings.items() for code in codes}
    facets = set(offerings)
    current = {(s.facet, s.code) for s in center.services if s.facet in facets}
    if wanted == current:
        return False
    kept = [s for s in center.services if s.facet not in facets or (s.facet, s.code) in wanted]
    center.services = kept + [
        CenterService(facet=facet, code=code, label=vocabulary.label_for(facet, code),
                      code_list=vocabulary.CODE_LIST)
        for facet, code in sorted(wanted - current)]
    return True


def save_center(session: Session, center: TreatmentCenter | None, data: CenterInput, *,
                by: User, address: str | None = None) -> TreatmentCenter:
    """Create (``center`` None) or edit a center from the form; raises checks.EntryInvalid.

    A center entered by hand gets a source id of its own so that exports and re-imports
    recognise it. Offerings are replaced facet by facet for the facets in ``data``.
    """
    values = _checked(data)
    creating = center is None
    if center is None:
        center = TreatmentCenter(source="manual", source_id=str(uuid.uuid4()))
        session.add(center)
    changed = checks.assign(center, values)
    if _set_offerings(center, data.offerings):
        changed.append("offerings")
    checks.audit_saved(session, center, "center", "treatment_center", creating=creating,
                       changed=changed, by=by, address=address)
    return center


def mark_verified(session: Session, center: TreatmentCenter, *, by: User,
                  address: str | None = None, now: dt.datetime | None = None) -> None:
    """Record that ``by`` checked the entry with the center today."""
    center.last_verified_at = now or utcnow()
    center.verified_by = by.username
    audit.record(session, "directory.center.verify", actor=by, record_type="treatment_center",
                 record_id=center.id, address=address)
    session.flush()


def months_before(moment: dt.datetime, months: int) -> dt.datetime:
    """The same day and time ``months`` calendar months earlier (the month's last day if the
    day does not exist then: 31 August → 28 or 29 February)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def stale_cutoff(now: dt.datetime | None = None) -> dt.datetime:
    return months_before(now or utcnow(), STALE_MONTHS)


@dataclass
class StalePage:
    items: list[TreatmentCenter]
    total: int
    page: int
    per_page: int
    cutoff: dt.datetime

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def unverified_centers(session: Session, *, now: dt.datetime | None = None, page: int = 1,
                       per_page: int = 50, state: str | None = None) -> StalePage:
    """Active centers not verified for six months (never verified first, then the oldest)."""
    cutoff = stale_cutoff(now)
    clauses = [TreatmentCenter.active.is_(True),
               or_(TreatmentCenter.last_verified_at.is_(None),
                   TreatmentCenter.last_verified_at < cutoff)]
    if state:
        clauses.append(TreatmentCenter.state == state.strip().upper())
    total = session.scalar(select(func.count()).select_from(TreatmentCenter)
                           .where(*clauses)) or 0
    items = list(session.scalars(
        select(TreatmentCenter).where(*clauses).options(lazyload(TreatmentCenter.services))
        .order_by(TreatmentCenter.last_verified_at.is_not(None),
                  TreatmentCenter.last_verified_at, TreatmentCenter.name, TreatmentCenter.id)
        .offset((page - 1) * per_page).limit(per_page)))
    return StalePage(items, total, page, per_page, cutoff)
