"""Reading query strings and forms: every value a browser sends becomes a typed value here, or
the request is refused with a sentence naming the field.

``*_arg`` reads the query string, ``*_field`` the posted form. A value that is absent (or
empty) gives the default; a value that is present but unusable raises :class:`InputError`,
which is a 400 whose description the dashboard's error page shows. It is also a ValueError,
so a view that already answers a refused form in its own words (a flash on the page the form
came from) catches it with the rest and says the same sentence there.

Numbers are bounded: ids to what an id column holds (PostgreSQL refuses a larger integer with
an error, SQLite beyond 64 bits), other numbers to the range the caller gives. Dates are
bounded to years a helpline can mean, so arithmetic on them (the day after, a time zone)
cannot overflow.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection
from typing import TypeVar

from flask import request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest

from helpline.db import INT_MAX

__all__ = [
    "InputError",
    "choice_arg",
    "choice_field",
    "date_arg",
    "date_field",
    "datetime_field",
    "float_arg",
    "id_arg",
    "id_field",
    "int_arg",
    "int_field",
    "optional_int_field",
    "text_arg",
    "text_field",
]

EARLIEST = dt.date(1900, 1, 1)
LATEST = dt.date(2199, 12, 31)
TEXT_MAX = 10_000  # a single form value; longer fields (notes) are bounded by the service
C = TypeVar("C", bound=str)


class InputError(BadRequest, ValueError):
    """A value that cannot be used: 400, described in words that name the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(description=f"{_label(field)} {problem}.")
        self.field = field

    def __str__(self) -> str:
        return str(self.description)


def _label(field: str) -> str:
    return f"“{field.replace('_', ' ')}”"


def _raw(source: MultiDict[str, str], name: str) -> str:
    value = source.get(name, "")
    if "\x00" in value:  # no database column takes it (PostgreSQL refuses it with an error)
        raise InputError(name, "contains a character that cannot be stored")
    return value.strip()


def _int(source: MultiDict[str, str], name: str, default: int, minimum: int,
         maximum: int) -> int:
    raw = _raw(source, name)
    if not raw:
        return default
    # isdigit() alone accepts "²" and other digits int() refuses; ASCII digits only.
    digits = raw[1:] if raw[0] in "+-" else raw
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
        raise InputError(name, f"must be a whole number from {minimum} to {maximum}")
    value = int(raw)
    if not minimum <= value <= maximum:
        raise InputError(name, f"must be a whole number from {minimum} to {maximum}")
    return value


def int_arg(name: str, default: int, *, minimum: int = 0, maximum: int = INT_MAX) -> int:
    """A whole number from the query string, between ``minimum`` and ``maximum``."""
    return _int(request.args, name, default, minimum, maximum)


def int_field(name: str, default: int, *, minimum: int = 0, maximum: int = INT_MAX) -> int:
    """A whole number from the form, between ``minimum`` and ``maximum``."""
    return _int(request.form, name, default, minimum, maximum)


def optional_int_field(name: str, *, minimum: int = 0, maximum: int = INT_MAX) -> int | None:
    """A whole number from the form, or None when the field is empty."""
    if not _raw(request.form, name):
        return None
    return _int(request.form, name, minimum, minimum, maximum)


def _id(source: MultiDict[str, str], name: str) -> int | None:
    raw = _raw(source, name)
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10 or not 1 <= int(raw) <= INT_MAX:
        raise InputError(name, "is not one of the choices offered")
    return int(raw)


def id_arg(name: str) -> int | None:
    """The id of a row from the query string (None when absent), in an id column's range."""
    return _id(request.args, name)


def id_field(name: str) -> int | None:
    """The id of a row from the form (None when absent), in an id column's range."""
    return _id(request.form, name)


def float_arg(name: str, default: float, *, minimum: float, maximum: float) -> float:
    """A finite number from the query string, between ``minimum`` and ``maximum``."""
    raw = _raw(request.args, name)
    if not raw:
        return default
    try:
        value = float(raw) if raw.isascii() and len(raw) < 32 else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not minimum <= value <= maximum:
        raise InputError(name, f"must be a number from {minimum:g} to {maximum:g}")
    return value


def _date(source: MultiDict[str, str], name: str, default: dt.date | None) -> dt.date | None:
    raw = _raw(source, name)
    if not raw:
        return default
    try:
        value = dt.date.fromisoformat(raw) if raw.isascii() and len(raw) == 10 else None
    except ValueError:
        value = None
    if value is None or not EARLIEST <= value <= LATEST:
        raise InputError(name, "must be a date such as 2026-01-31")
    return value


def date_arg(name: str, default: dt.date | None = None) -> dt.date | None:
    """A calendar date (YYYY-MM-DD) from the query string, within years a helpline means."""
    return _date(request.args, name, default)


def date_field(name: str, default: dt.date | None = None) -> dt.date | None:
    """A calendar date (YYYY-MM-DD) from the form, within years a helpline means."""
    return _date(request.form, name, default)


def datetime_field(name: str) -> dt.datetime | None:
    """A naive local date and time from the form (``<input type="datetime-local">``, or a
    date alone, which means its midnight), or None when empty."""
    raw = _raw(request.form, name)
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw) if raw.isascii() and len(raw) <= 26 else None
    except ValueError:
        value = None
    if value is None or value.tzinfo is not None or not EARLIEST <= value.date() <= LATEST:
        raise InputError(name, "must be a date and time such as 2026-01-31 14:30")
    return value


def _choice(source: MultiDict[str, str], name: str, choices: Collection[C],
            default: C | None) -> C | None:
    raw = _raw(source, name)
    if not raw:
        return default
    for choice in choices:
        if raw == choice:
            return choice
    raise InputError(name, "is not one of the choices offered")


def choice_arg(name: str, choices: Collection[C], default: C | None = None) -> C | None:
    """One of ``choices`` from the query string (``default`` when absent)."""
    return _choice(request.args, name, choices, default)


def choice_field(name: str, choices: Collection[C], default: C | None = None) -> C | None:
    """One of ``choices`` from the form (``default`` when absent)."""
    return _choice(request.form, name, choices, default)


def text_arg(name: str, default: str = "", *, max_length: int = TEXT_MAX) -> str:
    """Text from the query string, stripped, refused when longer than ``max_length``."""
    return _text(request.args, name, default, max_length)


def text_field(name: str, default: str = "", *, max_length: int = TEXT_MAX) -> str:
    """Text from the form, stripped, refused when longer than ``max_length``."""
    return _text(request.form, name, default, max_length)


def _text(source: MultiDict[str, str], name: str, default: str, max_length: int) -> str:
    raw = _raw(source, name)
    if len(raw) > max_length:
        raise InputError(name, f"is longer than {max_length} characters")
    return raw or default
