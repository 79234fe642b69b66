"""Warm handoff to treatment intake: from a referral to a center, conference the center's intake
line in with the caller on the line, after the consent door allowed sharing with that provider.

Why a conference: the caller is already bridged to the counselor (``<Dial><Queue>``). A new
``<Dial>`` on the counselor's leg would end that bridge and drop the caller, so, as for 911 in
the overdose protocol, both live legs move into a conference room and the intake line is
dialled into it with the helpline's number as caller ID. The intake worker first hears who is
calling and the §2.32 notice (ivr/handoff_views.py). Through the outbox, what would happen is
recorded. A dashboard action, never a webhook: REST calls take time.

The same action marks the referral handed off (when, by whom, on which consent), logs the
disclosure, and proposes a follow-up to confirm admission, resting on the caller's consent to
follow-up calls, or says why none could be proposed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline import audit, phones
from helpline.callbacks import webhook_url
from helpline.config import Settings
from helpline.consent.disclosures import log_disclosure
from helpline.consent.door import CALLER, ConsentError, Recipient, require_consent
from helpline.consent.terms import INFORMATION, NOTICE_EXPLAINED, PURPOSES, REDISCLOSURE_NOTICE
from helpline.db import utcnow
from helpline.followups import lifecycle
from helpline.followups.scheduling import FollowUpError
from helpline.models import (
    Call,
    Consent,
    Contact,
    FollowUp,
    OutboxMessage,
    Referral,
    Screening,
    TreatmentCenter,
    User,
)
from helpline.records import contacts

# The counselor's live leg: one rule, the overdose protocol's.
from helpline.records.screening import INSTRUMENTS
from helpline.staff.softphone import ring_into_room
from helpline.telephony import Telephony

PURPOSE = "treatment_intake"
#: When the follow-up that confirms admission may happen, after the handoff.
CONFIRM_WINDOW = (dt.timedelta(days=1), dt.timedelta(days=7))


class HandoffError(ValueError):
    """A handoff that cannot be made; the message says why."""


@dataclass
class Handoff:
    referral: Referral
    consent: Consent
    legs: list[OutboxMessage]
    followup: FollowUp | None = None
    no_followup_because: str | None = None
    summary: list[str] = field(default_factory=list)


def intake_number(center: TreatmentCenter) -> str:
    """The number to conference in: the intake line, else the center's main number."""
    return (center.intake_phone or center.phone or "").strip()


def center_of(session: Session, referral: Referral) -> TreatmentCenter:
    if referral.kind != "center":
        raise HandoffError("a warm handoff is to a treatment center's intake line")
    center = session.get(TreatmentCenter, referral.target_id)
    if center is None:
        raise HandoffError("this center is no longer in the directory")
    return center


def recipient(center: TreatmentCenter) -> Recipient:
    return Recipient.provider(center.id, center.name)


def provider_consent(session: Session, referral: Referral,
                     now: dt.datetime | None = None, *, timezone: str = "UTC") -> Consent:
    """The live consent to share with this referral's center for intake, or ConsentError
    (its dates given in ``timezone``)."""
    center = center_of(session, referral)
    return require_consent(session, referral.contact.caller_hash, "provider",
                           recipient(center), PURPOSE, now, timezone=timezone)


def room_url(settings: Settings, room: str, role: str, language: str,
             extension: str | None = None) -> str:
    """The TwiML address that puts one leg into the handoff's conference room; for the intake
    line, the extension its TwiML keys in once the line answers."""
    return webhook_url(settings, "handoff/join", room=room, role=role, lang=language,
                       ext=extension)


def summary_lines(session: Session, contact: Contact, consent: Consent, center_name: str,
                  settings: Settings, now: dt.datetime) -> list[str]:
    """What the counselor may tell the intake worker: only what the consent names, with the
    §2.32 notice. Built from the record each time (nothing of it is stored)."""
    local = now.astimezone(ZoneInfo(settings.default_timezone))  # the helpline's own clock
    lines = [f"Warm handoff from {settings.helpline_name} to {center_name} intake, "
             f"{local:%Y-%m-%d %H:%M} {local.tzname()}.",
             f"Shared with the caller's consent #{consent.id} ({consent.recorded_at:%Y-%m-%d}), "
             f"for: {PURPOSES[consent.purpose].lower()}."]
    lines += shared_facts(session, contact, consent)
    shared = set(consent.information)
    not_shared = [INFORMATION[c] for c in INFORMATION if c not in shared and c not in (
        "followup_contact", "referral_list")]
    if not_shared:
        lines.append("Not to be shared: " + "; ".join(not_shared) + ".")
    lines += [REDISCLOSURE_NOTICE, NOTICE_EXPLAINED]
    return lines


def shared_facts(session: Session, contact: Contact, consent: Consent) -> list[str]:
    """What of the record the consent releases to the provider, one sentence each (the warm
    handoff's summary and the FHIR referral both say exactly this)."""
    lines: list[str] = []
    shared = set(consent.information)
    if "seeking_treatment" in shared:
        lines.append("The caller is looking for substance use treatment.")
    if "substances" in shared and contact.substances:
        lines.append("Substances: " + ", ".join(contacts.SUBSTANCES.get(s, s)
                                                 for s in contact.substances) + ".")
    if "screening" in shared:
        for screening in session.scalars(select(Screening).where(
                Screening.contact_id == contact.id)):
            name = INSTRUMENTS[screening.instrument].name if (
                screening.instrument in INSTRUMENTS) else screening.instrument
            lines.append(f"Screening, {name}: score {screening.score} "
                         f"({screening.interpretation}).")
    if "insurance" in shared and contact.insurance:
        lines.append(f"Insurance: {contacts.INSURANCE.get(contact.insurance, contact.insurance)}.")
    if "age_range" in shared and contact.age_range:
        lines.append(f"Age range: {contacts.AGE_RANGES.get(contact.age_range, '-')}.")
    if "location" in shared and (contact.state or contact.zip_code):
        lines.append(f"Location: {contact.state or ''} {contact.zip_code or ''}".rstrip() + ".")
    return lines


def _live_call(session: Session, contact: Contact) -> Call:
    call = session.get(Call, contact.call_id) if contact.call_id else None
    if call is None or call.ended_at is not None or not call.caller_number:
        raise HandoffError("the caller is not on the line: a warm handoff needs them on the "
                           "call (give them the intake number instead)")
    return call


def warm_handoff(session: Session, referral: Referral, by: User, telephony: Telephony,
                 settings: Settings, now: dt.datetime | None = None) -> Handoff:
    """Conference the referral's center intake in with the caller and the counselor, after
    the consent door allowed sharing with that provider; mark the referral handed off; log
    the disclosure; propose a follow-up to confirm admission. Refused (HandoffError or
    ConsentError, saying why) before anything is dialled."""
    now = now or utcnow()
    contact = referral.contact
    if not contacts.can_edit_contact(by, contact):
        raise HandoffError("this record is closed or not yours to edit")
    if referral.handed_off_at is not None:
        raise HandoffError("this referral was already handed off")
    center = center_of(session, referral)
    number = intake_number(center)
    if not number:
        raise HandoffError(f"{center.name} has no intake or main phone number in the directory")
    try:
        # The directory keeps numbers as written ("555-555-0100 x12"); Twilio dials E.164 and
        # the extension is keyed in by the intake leg's TwiML once the line answers.
        dialable = phones.to_dialable(number,
                                      field=f"{center.name}'s phone number in the directory")
    except phones.PhoneNumberError as exc:
        raise HandoffError(str(exc)) from None
    consent = provider_consent(session, referral, now, timezone=settings.default_timezone)
    call = _live_call(session, contact)

    language = contact.language if contact.language == "es" else "en"
    room = f"handoff-{referral.id}"
    legs = [telephony.redirect_call(session, call.call_sid, call.caller_number or "",
                                    room_url(settings, room, "caller", language),
                                    purpose="handoff_conference")]
    legs.append(ring_into_room(session, telephony, by, settings,
                               room_url(settings, room, "counselor", language),
                               purpose="handoff_conference"))
    intake = telephony.place_call(session, dialable.e164,
                                  room_url(settings, room, "intake", language,
                                           dialable.extension),
                                  purpose="handoff_intake", caller_id=settings.helpline_number)
    legs.append(intake)
    if intake.status == "failed":
        audit.record(session, "referral.handoff_failed", actor=by, record_type="referral",
                     record_id=referral.id, detail={"outbox_id": intake.id})
        raise HandoffError("the intake line could not be dialed; try again or give the "
                           "caller the number")

    referral.handed_off_at = now
    referral.handed_off_by_id = by.id
    referral.handoff_consent_id = consent.id
    if referral.outcome is None:
        referral.outcome = "contacted_center"
        referral.outcome_at = now
        referral.outcome_by_id = by.id
    disclosure = log_disclosure(session, consent, channel="conference", by=by,
                                notice="short", contact_id=contact.id,
                                referral_id=referral.id, outbox_id=intake.id, now=now)
    audit.record(session, "referral.handoff", actor=by, record_type="referral",
                 record_id=referral.id,
                 detail={"contact_id": contact.id, "center_id": center.id,
                         "consent_id": consent.id, "disclosure_id": disclosure.id,
                         "room": room, "outbox_ids": [m.id for m in legs]})
    result = Handoff(referral=referral, consent=consent, legs=legs,
                     summary=summary_lines(session, contact, consent, center.name, settings,
                                           now))
    _propose_confirmation(session, result, contact, call, by, settings, now)
    return result


def _propose_confirmation(session: Session, result: Handoff, contact: Contact, call: Call,
                          by: User, settings: Settings, now: dt.datetime) -> None:
    """A reminder to call the caller and confirm admission, resting on their consent to
    follow-up calls; or, without one, the reason none was proposed."""
    try:
        consent = require_consent(session, contact.caller_hash, "call", CALLER, "followup", now)
    except ConsentError as exc:
        result.no_followup_because = (
            f"No follow-up to confirm admission was proposed: {exc}. Ask the caller, and "
            "request one with their consent from the record.")
        return
    try:
        result.followup = lifecycle.request_followup(
            session, contact=contact, call=call, phone=None, channel="call", kind="reminder",
            requested_by=by, consent_wording="", consent=consent, source="handoff",
            window_start=now + CONFIRM_WINDOW[0], window_end=now + CONFIRM_WINDOW[1],
            language=contact.language or "en", zip_code=contact.zip_code, settings=settings,
            referral=result.referral, now=now)
    except FollowUpError as exc:
        result.no_followup_because = f"No follow-up to confirm admission was proposed: {exc}."
