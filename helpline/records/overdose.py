"""The overdose protocol: started by the phone menu hearing an overdose or by the counselor,
it guides the call step by step and records each step's time (step, at, by, outcome).

Confirm the location (sealed; read through :func:`read_location`, audited), conference the
emergency number in with the caller staying on the line, record the disclosure made to
911/EMS (42 CFR §2.51), read the naloxone and rescue-breathing guidance aloud, then close the
emergency and propose a follow-up (which still needs the caller's consent).

Twilio's 911 reaches the answering point of the *helpline's* registered address, not the
caller's: the protocol makes the counselor give the caller's location, and tells them to have
a caller who is elsewhere use their own local emergency number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline import audit
from helpline.callbacks import webhook_url
from helpline.config import Settings
from helpline.db import utcnow
from helpline.models import (
    Call,
    Contact,
    ContactStatus,
    EmergencyDisclosure,
    FollowUp,
    OutboxMessage,
    OverdoseProtocol,
    ProtocolStep,
    User,
)
from helpline.records import contacts
from helpline.staff.softphone import ring_into_room
from helpline.telephony import Telephony

STEP_LABELS = {
    "started": "Overdose protocol started",
    "location_confirmed": "Location confirmed",
    "emergency_dialed": "Emergency number conferenced in",
    "emergency_outcome": "Emergency call",
    "disclosure_recorded": "Disclosure to emergency services recorded (§2.51)",
    "naloxone_given": "Naloxone given",
    "no_naloxone": "No naloxone at hand",
    "rescue_breathing": "Rescue breathing started",
    "recovery_position": "Turned onto their side",
    "breathing": "Breathing on their own",
    "responsive": "Awake and responding",
    "ems_arrived": "Emergency services arrived",
    "ended": "Emergency over",
    "followup_proposed": "Follow-up proposed",
}
# What the counselor marks while reading the guidance aloud.
GUIDANCE_ACTIONS = ("naloxone_given", "no_naloxone", "rescue_breathing", "recovery_position",
                    "breathing", "responsive", "ems_arrived")
LOCATION_KINDS = {"address": "A street address", "zip": "A ZIP code only",
                  "unknown": "The caller could not say"}
EMERGENCY_OUTCOMES = {
    "ems_reached": "The dispatcher answered; help is on the way",
    "local_number": "The caller is calling their own local emergency number",
    "caller_declined": "The caller declined emergency services",
    "no_answer": "The emergency line did not answer",
    "line_dropped": "The line dropped",
}
EMERGENCY_NATURES = {
    "suspected_opioid_overdose": "Suspected opioid overdose",
    "suspected_overdose": "Suspected overdose (other or unknown substance)",
    "not_breathing": "Person unresponsive or not breathing",
    "other_medical": "Other medical emergency",
}
DISCLOSED_INFORMATION = {
    "location": "Where the person is",
    "condition": "Their condition (breathing, responding)",
    "substances": "What was taken",
    "naloxone": "Naloxone given",
    "caller_number": "The caller's phone number",
}
END_OUTCOMES = {
    "ems_took_over": "Emergency services arrived and took over",
    "transported": "Taken to hospital",
    "recovered_declined": "Recovered and declined emergency care",
    "lost_contact": "We lost contact with the caller",
    "not_overdose": "It was not an overdose",
}
# Protocol steps that are also crisis steps of the record (helpline.contacts.CRISIS_STEPS).
_CRISIS_STEP_FOR = {("location_confirmed", "address"): "got_location",
                    ("location_confirmed", "zip"): "got_location",
                    ("emergency_dialed", "placed"): "called_911",
                    ("emergency_outcome", "ems_reached"): "ems_confirmed",
                    ("ems_arrived", None): "ems_confirmed"}
MAX_LOCATION = 300
# The wallboard looks this far back for overdoses still in progress.
WALLBOARD_WINDOW = dt.timedelta(hours=12)
LIVE_STATUSES = ("queued", "in-progress", "ringing")
FOLLOWUP_AFTER = (dt.timedelta(hours=24), dt.timedelta(hours=72))


class ProtocolError(ValueError):
    """A protocol step that cannot be recorded; the message says why (never quotes a value)."""


# --- starting ------------------------------------------------------------------------------

def protocol_for(session: Session, contact: Contact) -> OverdoseProtocol | None:
    """The record's overdose protocol, if one was started."""
    return session.scalar(select(OverdoseProtocol).where(OverdoseProtocol.contact_id == contact.id))


def start_protocol(session: Session, contact: Contact, by: User, *, source: str = "counselor",
                   now: dt.datetime | None = None) -> OverdoseProtocol:
    """Mark an overdose in progress on the record (once): overdose risk becomes imminent."""
    existing = protocol_for(session, contact)
    if existing is not None:
        return existing
    if not contacts.can_edit_contact(by, contact):
        raise ProtocolError("this record is closed or not yours to edit")
    if source not in ("counselor", "ivr"):
        raise ProtocolError("source: counselor or ivr")
    now = now or utcnow()
    protocol = OverdoseProtocol(contact_id=contact.id, call_id=contact.call_id,
                                counselor_id=by.id, source=source,
                                language=contact.language if contact.language == "es" else "en",
                                started_at=now)
    session.add(protocol)
    session.flush()
    _add_step(session, protocol, by, "started", source, now)
    if contact.overdose_risk != "imminent":
        contacts.update_draft(session, contact, by, {"overdose_risk": "imminent"}, now=now)
    audit.record(session, "overdose.start", actor=by, record_type="contact",
                 record_id=contact.id, detail={"protocol_id": protocol.id, "source": source})
    return protocol


def start_if_heard_by_ivr(session: Session, contact: Contact, by: User,
                          now: dt.datetime | None = None) -> OverdoseProtocol | None:
    """Screen pop: when the phone menu heard an overdose on this call, the record switches
    to the protocol. Returns the protocol it started; None when the call was not flagged or
    the protocol already exists (a counselor who left it is not pulled back)."""
    if contact.call_id is None or not contacts.can_edit_contact(by, contact):
        return None
    call = session.get(Call, contact.call_id)
    if call is None or not call.overdose_suspected or protocol_for(session, contact):
        return None
    return start_protocol(session, contact, by, source="ivr", now=now)


# --- steps ---------------------------------------------------------------------------------

def _add_step(session: Session, protocol: OverdoseProtocol, by: User | None, step: str,
              outcome: str | None, now: dt.datetime,
              detail: dict[str, object] | None = None) -> ProtocolStep:
    row = ProtocolStep(protocol_id=protocol.id, step=step, at=now,
                       by_id=by.id if by else None, outcome=outcome, detail=detail or {})
    session.add(row)
    session.flush()
    session.expire(protocol, ["steps"])
    return row


def _editable(protocol: OverdoseProtocol, contact: Contact, by: User, *,
              running: bool = True) -> None:
    if not contacts.can_edit_contact(by, contact) or protocol.contact_id != contact.id:
        raise ProtocolError("this record is closed or not yours to edit")
    if running and protocol.ended_at is not None:
        raise ProtocolError("the emergency was already closed")


def _record_step(session: Session, protocol: OverdoseProtocol, contact: Contact, by: User,
                 step: str, outcome: str | None, now: dt.datetime,
                 detail: dict[str, object] | None = None) -> ProtocolStep:
    row = _add_step(session, protocol, by, step, outcome, now, detail)
    audit.record(session, "overdose.step", actor=by, record_type="contact",
                 record_id=contact.id, detail={"step": step, "outcome": outcome})
    crisis_step = _CRISIS_STEP_FOR.get((step, outcome))
    if crisis_step and crisis_step not in contact.crisis_steps:
        contacts.update_draft(session, contact, by,
                              {"crisis_steps": [*contact.crisis_steps, crisis_step]}, now=now)
    return row


def confirm_location(session: Session, protocol: OverdoseProtocol, contact: Contact, by: User,
                     *, kind: str, location: str | None,
                     now: dt.datetime | None = None) -> ProtocolStep:
    """Keep where the person is (sealed) and record when it was confirmed."""
    _editable(protocol, contact, by)
    if kind not in LOCATION_KINDS:
        raise ProtocolError("say whether it is an address, a ZIP code, or unknown")
    text = " ".join((location or "").split())
    if kind == "unknown":
        text = ""
    elif not text:
        raise ProtocolError("type the address or ZIP code the caller gave")
    elif len(text) > MAX_LOCATION:
        raise ProtocolError(f"a location is at most {MAX_LOCATION} characters")
    elif kind == "zip" and not (len(text) == 5 and text.isdigit()):
        raise ProtocolError("a ZIP code is 5 digits")
    protocol.location = text or None
    protocol.location_kind = kind
    return _record_step(session, protocol, contact, by, "location_confirmed", kind,
                        now or utcnow())


def read_location(session: Session, viewer: User, protocol: OverdoseProtocol, contact: Contact,
                  address: str | None) -> str:
    """The decrypted location for ``viewer``; audited. The only door to it."""
    return audit.read_sealed(
        session, viewer, OverdoseProtocol.location, OverdoseProtocol.id == protocol.id,
        allowed=protocol.contact_id == contact.id and contacts.can_read_notes(viewer, contact),
        action="overdose.location", record_type="contact", record_id=contact.id,
        address=address)


def conference_url(settings: Settings, room: str, role: str, language: str) -> str:
    """The TwiML address that puts one leg into the protocol's conference room."""
    return webhook_url(settings, "conference/join", room=room, role=role, lang=language)


def connect_emergency(session: Session, protocol: OverdoseProtocol, contact: Contact, by: User,
                      telephony: Telephony, settings: Settings,
                      now: dt.datetime | None = None) -> list[OutboxMessage]:
    """Conference the emergency number in, with the caller and the counselor staying on.

    The caller's and the counselor's live legs move into a conference room and the emergency
    number is dialled into it (with the helpline's number as caller ID). Through the outbox,
    what would happen is recorded. A dashboard action, never a webhook: REST calls take time.
    """
    _editable(protocol, contact, by)
    now = now or utcnow()
    room = f"overdose-{protocol.id}"
    protocol.conference_room = room
    legs: list[OutboxMessage] = []
    call = session.get(Call, contact.call_id) if contact.call_id else None
    if call is not None and call.ended_at is None and call.caller_number:
        legs.append(telephony.redirect_call(
            session, call.call_sid, call.caller_number,
            conference_url(settings, room, "caller", protocol.language),
            purpose="overdose_conference"))
    legs.append(ring_into_room(
        session, telephony, by, settings,
        conference_url(settings, room, "counselor", protocol.language),
        purpose="overdose_conference", move_live_leg=call is not None))
    emergency = telephony.place_call(
        session, settings.emergency_number,
        conference_url(settings, room, "emergency", protocol.language),
        purpose="overdose_911", caller_id=settings.helpline_number)
    legs.append(emergency)
    outcome = "failed" if emergency.status == "failed" else "placed"
    _record_step(session, protocol, contact, by, "emergency_dialed", outcome, now,
                 {"outbox_ids": [m.id for m in legs], "room": room})
    return legs


def record_emergency_outcome(session: Session, protocol: OverdoseProtocol, contact: Contact,
                             by: User, outcome: str,
                             now: dt.datetime | None = None) -> ProtocolStep:
    """What came of the emergency call: EMS reached, caller declined, line dropped..."""
    _editable(protocol, contact, by)
    if outcome not in EMERGENCY_OUTCOMES:
        raise ProtocolError("choose what happened with the emergency call")
    return _record_step(session, protocol, contact, by, "emergency_outcome", outcome,
                        now or utcnow())


def mark(session: Session, protocol: OverdoseProtocol, contact: Contact, by: User,
         action: str, now: dt.datetime | None = None) -> ProtocolStep:
    """Record one thing done while reading the guidance (naloxone given, breathing...)."""
    _editable(protocol, contact, by)
    if action not in GUIDANCE_ACTIONS:
        raise ProtocolError("not one of the protocol's steps")
    detail: dict[str, object] = {}
    if action == "naloxone_given":
        detail["dose"] = 1 + sum(1 for s in protocol.steps if s.step == "naloxone_given")
    return _record_step(session, protocol, contact, by, action, None, now or utcnow(), detail)


# --- the §2.51 disclosure --------------------------------------------------------------------

def record_disclosure(session: Session, protocol: OverdoseProtocol, contact: Contact, by: User,
                      *, recipient_name: str, recipient_affiliation: str, nature: str,
                      information: Iterable[str], disclosed_at: dt.datetime | None = None,
                      now: dt.datetime | None = None) -> EmergencyDisclosure:
    """Record, right after it was made, a disclosure to 911/EMS without consent in a medical
    emergency (42 CFR §2.51): who received it and their affiliation, who disclosed (``by``),
    when, and the nature of the emergency."""
    _editable(protocol, contact, by, running=False)
    now = now or utcnow()
    name = " ".join(recipient_name.split())
    affiliation = " ".join(recipient_affiliation.split())
    if not name or len(name) > 120:
        raise ProtocolError("name who received it (a dispatcher's name or ID), at most 120 "
                            "characters")
    if not affiliation or len(affiliation) > 160:
        raise ProtocolError("name their service (e.g. the county 911 center), at most 160 "
                            "characters")
    if nature not in EMERGENCY_NATURES:
        raise ProtocolError("choose the nature of the emergency")
    told = [k for k in DISCLOSED_INFORMATION if k in set(information)]
    if set(information) - set(DISCLOSED_INFORMATION):
        raise ProtocolError("what was told: not one of the choices")
    if disclosed_at is None:
        dialed = [s.at for s in protocol.steps if s.step == "emergency_dialed"]
        disclosed_at = dialed[-1] if dialed else now
    if disclosed_at > now + dt.timedelta(minutes=1):
        raise ProtocolError("the disclosure cannot be in the future")
    disclosure = EmergencyDisclosure(
        contact_id=contact.id, protocol_id=protocol.id, caller_hash=contact.caller_hash,
        recipient_name=name, recipient_affiliation=affiliation, disclosed_by_id=by.id,
        disclosed_at=disclosed_at, nature=nature, information=told, recorded_at=now)
    session.add(disclosure)
    session.flush()
    _record_step(session, protocol, contact, by, "disclosure_recorded", nature, now,
                 {"disclosure_id": disclosure.id})
    audit.record(session, "disclosure.emergency", actor=by, record_type="emergency_disclosure",
                 record_id=disclosure.id, detail={"contact_id": contact.id, "nature": nature})
    return disclosure


def emergency_disclosures(session: Session, *, contact_id: int | None = None,
                          caller_hash: str | None = None, since: dt.datetime | None = None,
                          until: dt.datetime | None = None) -> list[EmergencyDisclosure]:
    """Emergency disclosures, oldest first, for one record, one caller or a time range."""
    query = select(EmergencyDisclosure)
    if contact_id is not None:
        query = query.where(EmergencyDisclosure.contact_id == contact_id)
    if caller_hash is not None:
        query = query.where(EmergencyDisclosure.caller_hash == caller_hash)
    if since is not None:
        query = query.where(EmergencyDisclosure.disclosed_at >= since)
    if until is not None:
        query = query.where(EmergencyDisclosure.disclosed_at < until)
    return list(session.scalars(query.order_by(EmergencyDisclosure.disclosed_at,
                                               EmergencyDisclosure.id)))


# --- after-care ------------------------------------------------------------------------------

def end_emergency(session: Session, protocol: OverdoseProtocol, contact: Contact, by: User,
                  outcome: str, now: dt.datetime | None = None) -> ProtocolStep:
    """Close the emergency and propose a follow-up (which needs the caller's consent)."""
    _editable(protocol, contact, by)
    if outcome not in END_OUTCOMES:
        raise ProtocolError("choose how the emergency ended")
    now = now or utcnow()
    protocol.ended_at = now
    protocol.end_outcome = outcome
    step = _record_step(session, protocol, contact, by, "ended", outcome, now)
    _record_step(session, protocol, contact, by, "followup_proposed", None, now)
    return step


def followup_window(protocol: OverdoseProtocol, timezone: str) -> tuple[str, str]:
    """The proposed follow-up window (24 to 72 hours after the emergency, as 988 centers
    aim for), as local ``datetime-local`` values for the follow-up form."""
    zone = ZoneInfo(timezone)
    base = protocol.ended_at or protocol.started_at
    start, end = (base + delta for delta in FOLLOWUP_AFTER)
    return (start.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
            end.astimezone(zone).strftime("%Y-%m-%dT%H:%M"))


def followup_requested(session: Session, protocol: OverdoseProtocol) -> FollowUp | None:
    """The follow-up requested on this record after the emergency ended, if any."""
    if protocol.ended_at is None:
        return None
    return session.scalar(select(FollowUp).where(FollowUp.contact_id == protocol.contact_id,
                                                 FollowUp.created_at >= protocol.ended_at)
                          .order_by(FollowUp.id).limit(1))


# --- the wallboard ---------------------------------------------------------------------------

@dataclass(frozen=True)
class OverdoseInProgress:
    call_id: int | None
    counselor: str | None
    stage: str
    seconds: int
    heard_by_ivr: bool


def _stage_of_call(call: Call) -> str:
    if call.outcome == "crisis_transfer":
        return "Transferred to the crisis line"
    if call.counselor_id is not None:
        return "With a counselor"
    if call.status == "queued":
        return "Waiting in the queue"
    return "In the phone menu"


def overdoses_in_progress(session: Session,
                          now: dt.datetime | None = None) -> list[OverdoseInProgress]:
    """Overdoses now: running protocols, and flagged live calls no protocol covers yet;
    longest running first."""
    now = now or utcnow()
    since = now - WALLBOARD_WINDOW
    lines: list[OverdoseInProgress] = []
    rows = session.execute(
        select(OverdoseProtocol, User.display_name, User.username)
        .join(Contact, Contact.id == OverdoseProtocol.contact_id)
        .join(User, User.id == OverdoseProtocol.counselor_id)
        .where(OverdoseProtocol.ended_at.is_(None), OverdoseProtocol.started_at >= since,
               Contact.status == ContactStatus.OPEN)).all()
    covered = set()
    for protocol, display_name, username in rows:
        covered.add(protocol.call_id)
        last = max(protocol.steps, key=lambda s: (s.at, s.id), default=None)
        stage = STEP_LABELS.get(last.step, last.step) if last else STEP_LABELS["started"]
        if last is not None and last.step == "emergency_outcome":
            stage = EMERGENCY_OUTCOMES.get(last.outcome or "", stage)
        lines.append(OverdoseInProgress(protocol.call_id, display_name or username, stage,
                                        _seconds(now, protocol.started_at),
                                        protocol.source == "ivr"))
    calls = [c for c in session.scalars(select(Call).where(
        Call.overdose_suspected.is_(True), Call.ended_at.is_(None), Call.started_at >= since,
        Call.status.in_(LIVE_STATUSES))) if c.id not in covered]
    names = _names(session, [c.counselor_id for c in calls if c.counselor_id])
    for call in calls:
        lines.append(OverdoseInProgress(call.id, names.get(call.counselor_id or 0),
                                        _stage_of_call(call), _seconds(now, call.started_at),
                                        True))
    return sorted(lines, key=lambda line: -line.seconds)


def _names(session: Session, ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {u.id: u.display_name or u.username
            for u in session.scalars(select(User).where(User.id.in_(set(ids))))}


def _seconds(now: dt.datetime, since: dt.datetime) -> int:
    return max(0, int((now - since).total_seconds()))
