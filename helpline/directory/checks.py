"""Checks of the values staff type into directory entries, each giving a message to show beside
the field. A form's messages are collected in an :class:`EntryInvalid`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from helpline import audit, phones
from helpline.directory import vocabulary
from helpline.directory.geo import ZipPoint, normalise_zip, zip_point
from helpline.models import User

_PHONE = re.compile(r"[0-9()+\-.\s]+(?:\s*(?:x|ext\.?)\s*\d{1,6})?", re.IGNORECASE)


class EntryInvalid(ValueError):
    """A directory form with mistakes: ``errors`` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def text(errors: dict[str, str], field: str, value: str, limit: int, *,
         required: bool = False, label: str | None = None) -> str:
    value = value.strip()
    name = label or field.replace("_", " ").capitalize()
    if required and not value:
        errors[field] = f"{name} is required."
    elif len(value) > limit:
        errors[field] = f"{name} must be at most {limit} characters."
    return value


def phone(errors: dict[str, str], field: str, value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    try:
        # Kept as written (read aloud, shown); dialled in its E.164 form.
        phones.to_e164(value, field=field.replace("_", " ").capitalize())
    except phones.PhoneNumberError as exc:
        errors[field] = f"{exc}: give e.g. 555-555-0100 x12."
        return value
    if not _PHONE.fullmatch(value) or len(value) > 32:
        errors[field] = "Give a phone number of 10 to 15 digits, e.g. 555-555-0100 x12."
    return value


def url(errors: dict[str, str], field: str, value: str, *, limit: int = 255,
        https_only: bool = False) -> str:
    value = value.strip()
    if not value:
        return ""
    parts = urlsplit(value)
    schemes = ("https",) if https_only else ("http", "https")
    if parts.scheme not in schemes or not parts.netloc or " " in value:
        errors[field] = ("Give a full address starting with https://." if https_only
                         else "Give a full address starting with https:// or http://.")
    elif len(value) > limit:
        errors[field] = f"The address must be at most {limit} characters."
    return value


def zip_code(errors: dict[str, str], field: str, value: str, *,
             required: bool = True) -> ZipPoint | None:
    value = value.strip()
    if not value:
        if required:
            errors[field] = "A ZIP code is required (searches measure distance from it)."
        return None
    normal = normalise_zip(value)
    point = zip_point(normal) if normal else None
    if point is None:
        errors[field] = f"{value[:12]} is not a known US ZIP code."
    return point


def coordinates(errors: dict[str, str], latitude: str, longitude: str
                ) -> tuple[float, float] | None:
    """Both blank: None (the ZIP centre will do). Otherwise both, in range."""
    latitude, longitude = latitude.strip(), longitude.strip()
    if not latitude and not longitude:
        return None
    try:
        lat, lon = float(latitude), float(longitude)
    except ValueError:
        errors["latitude"] = "Give latitude and longitude as numbers (or leave both blank)."
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        errors["latitude"] = "Latitude is -90 to 90 and longitude -180 to 180."
        return None
    return lat, lon


def state(errors: dict[str, str], value: str, point: ZipPoint | None) -> str:
    value = value.strip().upper()
    if not value:
        return point.state if point else ""
    if not re.fullmatch(r"[A-Z]{2}", value):
        errors["state"] = "Give the two-letter state code, e.g. NY."
    return value


def language(errors: dict[str, str], field: str, value: str) -> str:
    value = value.strip()
    if value not in vocabulary.LANGUAGES:
        errors[field] = "Choose a language from the list."
    return value


def assign(entry: object, values: Mapping[str, object]) -> list[str]:
    """Set on ``entry`` the values that differ from what it holds; the names of those."""
    changed = [name for name, value in values.items() if getattr(entry, name) != value]
    for name in changed:
        setattr(entry, name, values[name])
    return changed


def audit_saved(session: Session, entry: Any, kind: str, record_type: str, *, creating: bool,
                changed: list[str], by: User, address: str | None) -> None:
    """The audit event of a directory entry saved from a form (none when nothing changed)."""
    session.flush()
    if creating or changed:
        audit.record(session, f"directory.{kind}.{'create' if creating else 'update'}",
                     actor=by, record_type=record_type, record_id=entry.id,
                     address=address, detail={"fields": sorted(changed)})
