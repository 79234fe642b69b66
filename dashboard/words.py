"""What staff read for the codes the helpline stores, and the one way a moment is shown.

Pages never print a stored code or a raw datetime: ``{{ call.need|word }}`` gives "Loved
one" for ``loved_one``, "General, English" for the queue ``general-en``, "On a call" for
``on_call``; ``{{ event.at|clock }}`` gives the moment in the helpline's own time zone (the
DEFAULT_TIMEZONE setting), labelled with the zone's abbreviation; ``|languages`` and
``|shown`` (a stored detail's value) follow the same rules. The filters are registered in
dashboard/blueprint.py. A code with no word of its own is still shown as
words ("second_factor" reads "Second factor"), so a new code never reaches a page as is.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

from helpline.app.runtime import settings
from helpline.directory.vocabulary import LANGUAGES
from helpline.models import AgentStatus, Need, Role
from helpline.reporting.tables import Table

NEEDS: dict[str, str] = {
    Need.SELF: "Self", Need.LOVED_ONE: "Loved one", Need.TREATMENT: "Treatment",
    Need.GROUPS: "Support groups", Need.RESOURCES: "Resources", Need.CRISIS: "Crisis",
}
# The queue groups of the shipped flows; the need groups (above) name a queue too.
QUEUE_GROUPS: dict[str, str] = {"general": "General", "crisis": "Crisis"}
STATUSES: dict[str, str] = {
    AgentStatus.OFFLINE: "Offline", AgentStatus.AVAILABLE: "Available",
    AgentStatus.ON_CALL: "On a call", AgentStatus.WRAP_UP: "Wrap-up", AgentStatus.AWAY: "Away",
}
ROLES: dict[str, str] = {Role.COUNSELOR: "Counselor", Role.SUPERVISOR: "Supervisor",
                         Role.ADMIN: "Admin"}
_ANY: dict[str, str] = {**LANGUAGES, **QUEUE_GROUPS, **NEEDS, **STATUSES, **ROLES}

# strftime patterns; the zone's abbreviation ("EDT") is added after each but "date".
STYLES: dict[str, str] = {
    "short": "%a %d %b %H:%M",  # Tue 10 Mar 11:00 EDT: within the last weeks
    "long": "%Y-%m-%d %H:%M",  # 2026-03-10 11:00 EDT: logs and lists over months
    "seconds": "%Y-%m-%d %H:%M:%S",
    "time": "%H:%M",  # 11:00 EDT: today, on a live page
    "time_seconds": "%H:%M:%S",
    "date": "%Y-%m-%d",
}


def language(code: str | None) -> str:
    """"English" for ``en``; an unknown code is shown upper-case ("TL")."""
    if not code:
        return ""
    return LANGUAGES.get(code, code.upper())


def languages(codes: str | None) -> str:
    """"English, Spanish" for a staff member's ``en es``."""
    return ", ".join(language(code) for code in (codes or "").split())


def queue(name: str | None) -> str:
    """"General, English" for ``general-en``, "Loved one, Spanish" for ``loved_one-es``."""
    if not name:
        return ""
    group, _, lang = name.rpartition("-")
    if not group:
        return word(name)
    return f"{QUEUE_GROUPS.get(group) or NEEDS.get(group) or _humanise(group)}, {language(lang)}"


def word(code: object) -> str:
    """The word for any stored code: need, language, queue, status, role; else the code
    written as words. ``None`` and "" give "" (templates add their own dash)."""
    if code is None or code == "":
        return ""
    text = str(code)
    if text in _ANY:
        return _ANY[text]
    group, dash, lang = text.rpartition("-")
    if dash and lang in LANGUAGES and (group in QUEUE_GROUPS or group in NEEDS):
        return queue(text)
    # A code of one lowercase word ("answered", "callback") reads as the others do.
    return _humanise(text) if "_" in text or (text.isalpha() and text.islower()) else text


def shown(value: object) -> str:
    """A stored detail's value as staff read it: a moment on the helpline's clock, a code as
    words, anything else as it is."""
    if isinstance(value, dt.datetime):
        return clock(value, "long")
    if isinstance(value, str) and "T" in value and value[:4].isdigit():
        try:
            return clock(dt.datetime.fromisoformat(value), "long")
        except ValueError:
            pass
    if value is None:
        return "—"
    return word(value)


def _humanise(code: str) -> str:
    words = code.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def helpline_zone() -> ZoneInfo:
    """The helpline's own time zone (the DEFAULT_TIMEZONE setting)."""
    return _zone(settings().default_timezone)


def clock(when: dt.datetime | dt.date | None, style: str = "short") -> str:
    """``when`` in the helpline's own zone, labelled: "Tue 10 Mar 11:00 EDT" (see STYLES).

    Stored moments are aware UTC (helpline.db.UTCDateTime); a naive one is taken as UTC.
    A date alone is shown as it is: it already names a day of the helpline's calendar.
    """
    if when is None:
        return "—"
    pattern = STYLES[style]
    if not isinstance(when, dt.datetime):
        return when.strftime(STYLES["date"])
    aware = when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
    local = aware.astimezone(helpline_zone())
    if style == "date":
        return local.strftime(pattern)
    return f"{local.strftime(pattern)} {local.tzname()}"


def table_in_words(table: Table) -> Table:
    """A report table with its row labels (needs, languages, queues, outcomes) as words."""
    return dataclasses.replace(table, rows=[[word(row[0]) if isinstance(row[0], str) else row[0],
                                             *row[1:]] for row in table.rows])
