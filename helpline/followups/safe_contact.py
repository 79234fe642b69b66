"""Safe-contact preferences: how a caller may be contacted for follow-ups without putting them
at risk, and what the software does about each one.

* Voicemail: by default none is left. A bridged callback to the caller dials with Twilio's
  answering-machine detection; when a machine answers, the call is hung up before anything is
  said and the attempt is recorded as "voicemail not left" (retried within limits).
* The name the caller hears or reads: a neutral alias (SAFE_CONTACT_ALIAS) unless the caller
  allowed the helpline's own name. Texts and the callback's greeting use it.
* Channel and hours: a follow-up on a channel the caller ruled out is refused when requested
  and stopped when due; nothing reaches the caller outside their safe hours (on top of quiet
  hours): the scheduler moves it to the next safe moment.
* Someone else on the line is a risk: the callback's greeting names no one and no service and
  asks the person who answered to press 1 if they are the one expecting the call; anyone else
  is hung up on, recorded as "not confirmed". Counselors calling by hand are told to ask for
  the caller by first name only (kept sealed, shown on demand and audited) and to hang up.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline import audit
from helpline.config import Settings
from helpline.db import utcnow
from helpline.followups.scheduling import FollowUpError, safe_hours_leave_time
from helpline.models import SafeContactPreferences, User

NAME_CHOICES = {"alias": "A neutral name", "helpline": "The helpline's own name"}
MAX_ASK_FOR = 40


@dataclass(frozen=True)
class SafeContact:
    """A caller's preferences, or the safe defaults when none were recorded."""

    voicemail_ok: bool = False
    name_choice: str = "alias"
    allow_calls: bool = True
    allow_texts: bool = True
    safe_hours: tuple[int, int] | None = None
    someone_else_risk: bool = False
    recorded: bool = False


DEFAULTS = SafeContact()


def preferences_for(session: Session, caller_hash: str | None) -> SafeContact:
    """The caller's preferences (the defaults when none were recorded)."""
    row = session.get(SafeContactPreferences, caller_hash) if caller_hash else None
    return view(row)


def view(row: SafeContactPreferences | None) -> SafeContact:
    if row is None:
        return DEFAULTS
    hours = ((row.safe_hours_start, row.safe_hours_end)
             if row.safe_hours_start is not None and row.safe_hours_end is not None else None)
    return SafeContact(voicemail_ok=row.voicemail_ok, name_choice=row.name_choice,
                       allow_calls=row.allow_calls, allow_texts=row.allow_texts,
                       safe_hours=hours, someone_else_risk=row.someone_else_risk,
                       recorded=True)


def name_to_use(prefs: SafeContact, settings: Settings) -> str:
    """The name the caller may hear or read for the helpline."""
    return settings.helpline_name if prefs.name_choice == "helpline" else (
        settings.safe_contact_alias)


def channel_refusal(prefs: SafeContact, channel: str) -> str | None:
    """Why the caller's preferences rule out ``channel`` ("call" or "sms"), or None."""
    if channel == "call" and not prefs.allow_calls:
        return "the caller said calls are not safe for them (safe-contact preferences)"
    if channel == "sms" and not prefs.allow_texts:
        return "the caller said texts are not safe for them (safe-contact preferences)"
    return None


# --- recording and reading -----------------------------------------------------------------


def set_preferences(session: Session, caller_hash: str | None, by: User, settings: Settings, *,
                    voicemail_ok: bool, name_choice: str, allow_calls: bool, allow_texts: bool,
                    safe_hours: tuple[int, int] | None, someone_else_risk: bool,
                    ask_for: str | None = None, now: dt.datetime | None = None
                    ) -> SafeContactPreferences:
    """Record how the caller may safely be contacted (one row per caller); audited by field
    name, never by value. ``ask_for`` None keeps the first name on file, "" removes it."""
    if caller_hash is None:
        raise FollowUpError("there is no caller to record preferences for (no phone number)")
    if name_choice not in NAME_CHOICES:
        raise FollowUpError("choose the name the caller may hear")
    if not (allow_calls or allow_texts):
        raise FollowUpError("if neither calls nor texts are safe, do not request a follow-up; "
                            "keep at least one")
    if safe_hours is not None:
        start, end = safe_hours
        if not (0 <= start <= 23 and 0 <= end <= 23) or start == end:
            raise FollowUpError("safe hours are two different hours from 0 to 23")
        if not safe_hours_leave_time(start, end, settings):
            raise FollowUpError(
                f"those safe hours fall entirely in quiet hours ({settings.quiet_hours_start}:00 "
                f"to {settings.quiet_hours_end}:00): nothing could ever be sent")
    name = None if ask_for is None else " ".join(ask_for.split())
    if name is not None and (len(name) > MAX_ASK_FOR or " " in name):
        raise FollowUpError(f"a first name only, at most {MAX_ASK_FOR} characters")
    row = session.get(SafeContactPreferences, caller_hash)
    if row is None:
        row = SafeContactPreferences(caller_hash=caller_hash)
        session.add(row)
    values = {"voicemail_ok": voicemail_ok, "name_choice": name_choice,
              "allow_calls": allow_calls, "allow_texts": allow_texts,
              "safe_hours_start": safe_hours[0] if safe_hours else None,
              "safe_hours_end": safe_hours[1] if safe_hours else None,
              "someone_else_risk": someone_else_risk}
    changed = [k for k, v in values.items() if getattr(row, k) != v]
    for key, value in values.items():
        setattr(row, key, value)
    if name is not None:
        row.ask_for = name or None
        changed.append("ask_for")
    row.updated_at = now or utcnow()
    row.updated_by_id = by.id
    session.flush()
    audit.record(session, "safe_contact.update", actor=by,
                 record_type="safe_contact_preferences", record_id=caller_hash[:12],
                 detail={"fields": changed})
    return row


def has_ask_for(session: Session, caller_hash: str | None) -> bool:
    """Whether a first name to ask for is on file (without opening it)."""
    if caller_hash is None:
        return False
    return session.scalar(select(SafeContactPreferences.ask_for.is_not(None)).where(
        SafeContactPreferences.caller_hash == caller_hash)) or False


def read_ask_for(session: Session, viewer: User, caller_hash: str | None, *, allowed: bool,
                 address: str | None) -> str:
    """The first name to ask for, for a viewer the caller's page already allowed; audited.
    The only door to it."""
    return audit.read_sealed(
        session, viewer, SafeContactPreferences.ask_for,
        SafeContactPreferences.caller_hash == caller_hash,
        allowed=allowed and caller_hash is not None, action="safe_contact.ask_for",
        record_type="safe_contact_preferences", record_id=(caller_hash or "")[:12],
        address=address)


def what_the_software_does(prefs: SafeContact, settings: Settings) -> list[str]:
    """In words, for the pages: how each preference changes what is sent."""
    name = name_to_use(prefs, settings)
    lines = [f"Texts and the call-back greeting name the helpline as \u201c{name}\u201d."]
    if prefs.voicemail_ok:
        lines.append("A voicemail may be left.")
    else:
        lines.append("No voicemail: a call back that reaches a machine hangs up before "
                     "anything is said, and counts as an attempt (voicemail not left).")
    if not prefs.allow_calls:
        lines.append("No calls: call follow-ups are refused, and stopped if already due.")
    if not prefs.allow_texts:
        lines.append("No texts: text follow-ups are refused, and stopped if already due.")
    if prefs.safe_hours:
        start, end = prefs.safe_hours
        lines.append(f"Only between {start}:00 and {end}:00 the caller's time (and never in "
                     f"quiet hours, {settings.quiet_hours_start}:00 to "
                     f"{settings.quiet_hours_end}:00).")
    if prefs.someone_else_risk:
        lines.append("Someone else may answer: the call back names no one and no service and "
                     "asks whoever answers to press 1 if they are expecting the call; anyone "
                     "else is hung up on. Calling by hand, ask for the caller by first name "
                     "only, never say why you are calling, and if someone else answers say you "
                     "have the wrong number and hang up.")
    return lines
