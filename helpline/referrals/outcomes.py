"""Closed-loop referrals: how each referral turned out (contacted the center, got an
appointment, admitted, not admitted and why, lost to contact), with when and by whom, filled
in from the record or from a follow-up. The report of how many became admissions is
:mod:`helpline.reporting.admissions`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from helpline import audit
from helpline.consent import door
from helpline.db import utcnow
from helpline.followups.lifecycle import can_work_followup
from helpline.models import FollowUp, Referral, User
from helpline.records.contacts import can_view_contact

OUTCOMES = {
    "contacted_center": "Contacted the center",
    "appointment": "Got an appointment",
    "admitted": "Admitted",
    "not_admitted": "Not admitted",
    "lost_to_contact": "Lost to contact",
}
#: Why a referral did not become an admission (fixed words: no caller detail in the log).
NOT_ADMITTED_REASONS = {
    "waitlist": "No place yet (waitlist)",
    "cost": "Insurance or cost",
    "not_eligible": "Not eligible, or another level of care needed",
    "declined": "The caller decided not to go",
    "no_show": "Did not attend the appointment",
    "other": "Other",
}
#: Outcomes after which the loop is closed (a provider consent ending with it expires).
FINAL_OUTCOMES = frozenset({"admitted", "not_admitted", "lost_to_contact"})


class OutcomeError(ValueError):
    """An outcome that cannot be recorded; the message says why."""


def can_record_outcome(user: User, referral: Referral, followup: FollowUp | None = None) -> bool:
    """Whoever may open the record, or work a follow-up on the same record."""
    if can_view_contact(user, referral.contact):
        return True
    return (followup is not None and followup.contact_id == referral.contact_id
            and can_work_followup(user, followup))


def record_outcome(session: Session, referral: Referral, outcome: str, *, by: User,
                   reason: str | None = None, followup: FollowUp | None = None,
                   now: dt.datetime | None = None) -> Referral:
    """Record how a referral turned out (later outcomes replace earlier ones; each is
    audited). "Not admitted" needs a reason. A final outcome ends the provider consents that
    were to last until the referral closed."""
    now = now or utcnow()
    if not can_record_outcome(by, referral, followup):
        raise PermissionError("not allowed to record this referral's outcome")
    return _apply(session, referral, outcome, reason=reason, by=by, followup=followup, now=now)


def record_provider_outcome(session: Session, referral: Referral, outcome: str, *,
                            reason: str | None, source: str,
                            now: dt.datetime | None = None) -> Referral:
    """Record how a referral turned out as the treatment provider reported it (a FHIR Task
    update): no staff member, ``source`` names the report in the audit event. The same rules
    as :func:`record_outcome` otherwise."""
    return _apply(session, referral, outcome, reason=reason, by=None, followup=None,
                  now=now or utcnow(), source=source)


def _apply(session: Session, referral: Referral, outcome: str, *, reason: str | None,
           by: User | None, followup: FollowUp | None, now: dt.datetime,
           source: str | None = None) -> Referral:
    if outcome not in OUTCOMES:
        raise OutcomeError("choose an outcome from the list")
    if outcome == "not_admitted":
        if reason not in NOT_ADMITTED_REASONS:
            raise OutcomeError("say why the caller was not admitted")
    else:
        reason = None
    before = referral.outcome
    referral.outcome = outcome
    referral.outcome_reason = reason
    referral.outcome_at = now
    referral.outcome_by_id = by.id if by else None
    referral.outcome_followup_id = followup.id if followup else None
    session.flush()
    detail: dict[str, object] = {"contact_id": referral.contact_id, "from": before,
                                 "to": outcome, "reason": reason,
                                 "followup_id": referral.outcome_followup_id}
    if source:
        detail["source"] = source
    audit.record(session, "referral.outcome", actor=by or source, record_type="referral",
                 record_id=referral.id, detail=detail)
    if outcome in FINAL_OUTCOMES and referral.kind == "center":
        door.expire_on_event(session, "referral_closed", caller=referral.contact.caller_hash,
                                center_id=referral.target_id, now=now)
    return referral
