"""The disclosure log: every disclosure made with a caller's consent (to whom, what, when, why,
by whom, the consent it relied on, the §2.32 notice that went with it), and one list of a
caller's disclosures that also shows the overdose protocol's emergency disclosures to 911/EMS
(42 CFR §2.51, kept in their own table by :mod:`helpline.overdose`).

A disclosure is logged only after the consent door (:func:`helpline.consent.require_consent`)
allowed it; the callers of :func:`log_disclosure` ask it first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import false, func, select
from sqlalchemy.orm import Session

from helpline import audit
from helpline.consent.door import consents_for
from helpline.consent.terms import INFORMATION, PURPOSES, RECIPIENT_OF_SCOPE
from helpline.db import utcnow
from helpline.models import Consent, Disclosure, FollowUp, User
from helpline.models.followups import FollowUpKind
from helpline.records.overdose import (
    DISCLOSED_INFORMATION,
    EMERGENCY_NATURES,
    emergency_disclosures,
)

CHANNELS = {
    "sms": "Text to the caller",
    "call": "Call to the caller (bridged by the helpline)",
    "reminder": "Call to the caller by a counselor (reminder delivered)",
    "conference": "Conference call with the caller on the line",
    "fhir": "Electronic referral to the provider (FHIR ServiceRequest and Task)",
}
#: The notice codes a disclosure carries ("" for a message to the caller themself).
NOTICES = {"": "None needed (to the caller themself)",
           "short": "§2.32 statement: 42 CFR part 2 prohibits unauthorized use or disclosure"}


def log_disclosure(session: Session, consent: Consent, *, channel: str,
                   information: Sequence[str] | None = None, by: User | None = None,
                   by_label: str = "", notice: str = "", contact_id: int | None = None,
                   followup_id: int | None = None, referral_id: int | None = None,
                   outbox_id: int | None = None, now: dt.datetime | None = None) -> Disclosure:
    """Log a disclosure the consent door allowed, resting on ``consent``."""
    disclosure = disclosure_row(
        consent, channel=channel, information=information, by=by, by_label=by_label,
        notice=notice, contact_id=contact_id, followup_id=followup_id, referral_id=referral_id,
        outbox_id=outbox_id, now=now)
    session.add(disclosure)
    session.flush()
    return disclosure


def disclosure_row(consent: Consent, *, channel: str, information: Sequence[str] | None = None,
                   by: User | None = None, by_label: str = "", notice: str = "",
                   contact_id: int | None = None, followup_id: int | None = None,
                   referral_id: int | None = None, outbox_id: int | None = None,
                   now: dt.datetime | None = None) -> Disclosure:
    """An unsaved :class:`Disclosure` (the scheduler adds a batch of them at once)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown disclosure channel {channel!r}")
    if notice not in NOTICES:
        raise ValueError(f"unknown notice {notice!r}")
    return Disclosure(
        caller_hash=consent.caller_hash, contact_id=contact_id or consent.contact_id,
        consent_id=consent.id, recipient_kind=RECIPIENT_OF_SCOPE[consent.scope],
        recipient_center_id=consent.recipient_center_id, recipient_name=consent.recipient_name,
        channel=channel, purpose=consent.purpose,
        information=list(information if information is not None else consent.information),
        notice=notice, followup_id=followup_id, referral_id=referral_id, outbox_id=outbox_id,
        disclosed_by_id=by.id if by else None,
        disclosed_by=(by.username if by else by_label)[:40], disclosed_at=now or utcnow())


def followup_channel(followup: FollowUp) -> str:
    """How a follow-up reaches the caller, as a disclosure channel."""
    channels: dict[str, str] = {FollowUpKind.SMS_CHECKIN: "sms",
                                FollowUpKind.BRIDGED_CALLBACK: "call"}
    return channels.get(followup.kind, "reminder")


# --- one caller's log --------------------------------------------------------------------------


@dataclass(frozen=True)
class LogEntry:
    """One line of a caller's disclosure log, whatever allowed it."""

    at: dt.datetime
    to: str
    affiliation: str
    channel: str
    what: list[str]
    why: str
    by: str
    basis: str  # "Consent #12" or the §2.51 emergency
    consent_id: int | None
    notice: str


def caller_log(session: Session, caller_hash: str | None) -> list[LogEntry]:
    """Every disclosure about one caller, newest first: those made with consent and the
    emergency disclosures to 911/EMS recorded by the overdose protocol."""
    if not caller_hash:
        return []
    names = dict(session.execute(select(User.id, User.display_name)).all())
    entries = [
        LogEntry(at=d.disclosed_at,
                 to="The caller" if d.recipient_kind == "caller" else (
                     d.recipient_name or d.recipient_kind.replace("_", " ")),
                 affiliation={"caller": "", "provider": "Treatment provider",
                              "third_party": "Third party"}.get(d.recipient_kind, ""),
                 channel=CHANNELS.get(d.channel, d.channel),
                 what=[INFORMATION.get(c, c) for c in d.information],
                 why=PURPOSES.get(d.purpose, d.purpose),
                 by=names.get(d.disclosed_by_id, d.disclosed_by) if d.disclosed_by_id
                 else (d.disclosed_by or "system"),
                 basis=f"Consent #{d.consent_id}", consent_id=d.consent_id,
                 notice=NOTICES.get(d.notice, d.notice))
        for d in session.scalars(select(Disclosure).where(Disclosure.caller_hash == caller_hash)
                                 .order_by(Disclosure.disclosed_at.desc(), Disclosure.id.desc()))
    ]
    entries += [
        LogEntry(at=e.disclosed_at, to=e.recipient_name, affiliation=e.recipient_affiliation,
                 channel="Emergency call (overdose protocol)",
                 what=[DISCLOSED_INFORMATION.get(c, c) for c in e.information],
                 why=f"Medical emergency: {EMERGENCY_NATURES.get(e.nature, e.nature)}",
                 by=names.get(e.disclosed_by_id, "-"),
                 basis="Medical emergency without consent (42 CFR 2.51)", consent_id=None,
                 notice="Not required (42 CFR 2.51); recorded immediately after")
        for e in emergency_disclosures(session, caller_hash=caller_hash)
    ]
    return sorted(entries, key=lambda e: e.at, reverse=True)


@dataclass(frozen=True)
class CallerConsents:
    """What the caller's page shows: their consents, the third-party names among them (opened
    for this view), and the disclosure log."""

    consents: list[Consent]
    third_party_names: dict[int, str]  # consent id -> the name the caller gave
    log: list[LogEntry]


def caller_consents(session: Session, viewer: User, caller_hash: str | None, *, allowed: bool,
                    record_type: str, record_id: object, address: str | None) -> CallerConsents:
    """Every consent a caller gave and every disclosure about them, for ``viewer``; the view,
    and the sealed third-party names it opens, audited as ``consent.list.view`` (refused as
    ``consent.list.refused``, then :class:`PermissionError`)."""
    consents = consents_for(session, caller_hash) if allowed else []
    log = caller_log(session, caller_hash) if allowed else []
    of_caller = Consent.caller_hash == caller_hash if caller_hash else false()
    named = session.scalar(select(func.count(Consent.id)).where(
        of_caller, Consent.third_party_name.is_not(None))) if allowed else 0
    names = audit.read_sealed_values(
        session, viewer, Consent.third_party_name, of_caller, allowed=allowed,
        read_action="consent.list.view", refused_action="consent.list.refused",
        record_type=record_type, record_id=record_id, address=address,
        detail={"consents": len(consents), "disclosures": len(log),
                "third_party_names_shown": named})
    return CallerConsents(consents, names, log)
