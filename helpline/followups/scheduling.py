"""Quiet and safe hours: when a follow-up may reach a caller, in the caller's own time zone.

Quiet hours are the helpline's (no texts or calls, for everyone); safe hours are the caller's
own (from their safe-contact preferences, :mod:`helpline.followups.safe_contact`). Nothing here
reads the database: the life cycle, the delivery and the preferences all ask these questions,
so they sit below all three. :class:`FollowUpError` is here for the same reason: every
follow-up rule refuses with it.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from helpline.config import Settings
from helpline.directory.geo import zip_point


class FollowUpError(Exception):
    """A follow-up request or change that is refused; the message is safe to show staff."""


# --- time zones and quiet hours -------------------------------------------------------------


def caller_timezone(zip_code: str | None, settings: Settings) -> str:
    """The caller's IANA time zone from their ZIP code, else the helpline's default."""
    if zip_code:
        point = zip_point(zip_code)
        if point is not None and point.timezone:
            return point.timezone
    return settings.default_timezone


def zone(name: str) -> ZoneInfo:
    """The time zone named ``name``; an unknown name is refused (FollowUpError)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise FollowUpError(f"unknown time zone {name!r}") from None


def in_quiet_hours(when: dt.datetime, timezone: str, settings: Settings) -> bool:
    """True when ``when`` falls in the quiet hours (no texts or calls) in ``timezone``."""
    start, end = settings.quiet_hours_start, settings.quiet_hours_end
    if start == end:
        return False
    hour = when.astimezone(zone(timezone)).hour
    if start > end:  # wraps midnight, e.g. 21 -> 8
        return hour >= start or hour < end
    return start <= hour < end


def next_allowed_time(when: dt.datetime, timezone: str, settings: Settings) -> dt.datetime:
    """``when`` itself if outside quiet hours, else the moment quiet hours end (UTC)."""
    if not in_quiet_hours(when, timezone, settings):
        return when
    local = when.astimezone(zone(timezone))
    end = local.replace(hour=settings.quiet_hours_end, minute=0, second=0, microsecond=0)
    if end <= local:
        end = (local + dt.timedelta(days=1)).replace(
            hour=settings.quiet_hours_end, minute=0, second=0, microsecond=0
        )
    return end.astimezone(dt.UTC)


# --- safe hours ----------------------------------------------------------------------------


def _in_hours(hour: int, start: int, end: int) -> bool:
    if start == end:
        return True
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end  # wraps midnight


def outside_safe_hours(when: dt.datetime, timezone: str,
                       safe_hours: tuple[int, int] | None) -> bool:
    """True when ``when`` falls outside the caller's safe hours (in their zone)."""
    if safe_hours is None:
        return False
    return not _in_hours(when.astimezone(ZoneInfo(timezone)).hour, *safe_hours)


def allowed_now(when: dt.datetime, timezone: str, settings: Settings,
                safe_hours: tuple[int, int] | None) -> bool:
    """Neither quiet hours nor outside the caller's safe hours."""
    return not (in_quiet_hours(when, timezone, settings)
                or outside_safe_hours(when, timezone, safe_hours))


def next_safe_time(when: dt.datetime, timezone: str, settings: Settings,
                   safe_hours: tuple[int, int] | None) -> dt.datetime:
    """``when`` itself if allowed, else the first moment after it that is outside quiet hours
    and inside the caller's safe hours (UTC)."""
    at = when
    for _ in range(4):
        at = next_allowed_time(at, timezone, settings)
        if not outside_safe_hours(at, timezone, safe_hours):
            return at
        assert safe_hours is not None
        local = at.astimezone(ZoneInfo(timezone))
        start = local.replace(hour=safe_hours[0], minute=0, second=0, microsecond=0)
        if start <= local:
            start = (local + dt.timedelta(days=1)).replace(hour=safe_hours[0], minute=0,
                                                           second=0, microsecond=0)
        at = start.astimezone(dt.UTC)
    return at


def safe_hours_leave_time(start: int, end: int, settings: Settings) -> bool:
    """Whether some hour of the safe window ``start`` to ``end`` is outside quiet hours."""
    quiet = (settings.quiet_hours_start, settings.quiet_hours_end)
    if quiet[0] == quiet[1]:
        return True
    return any(_in_hours(h, start, end) and not _in_hours(h, *quiet) for h in range(24))
