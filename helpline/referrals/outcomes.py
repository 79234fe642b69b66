"""Closed-loop referrals: how each referral turned out (contacted the center, got an
appointment, admitted, not admitted and why, lost to contact), with when and by whom, filled
in from the record or from a follow-up; and the report of how many referrals became
admissions, per center and per type of care.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from helpline import audit
from helpline.consent import door
from helpline.db import utcnow
from helpline.followups.lifecycle import can_work_followup
from helpline.models import Call, CenterService, Contact, FollowUp, Referral, User
from helpline.records.contacts import can_view_contact
from helpline.reporting.reports import Table

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
    referral.outcome_by_id = by.id
    referral.outcome_followup_id = followup.id if followup else None
    session.flush()
    audit.record(session, "referral.outcome", actor=by, record_type="referral",
                 record_id=referral.id,
                 detail={"contact_id": referral.contact_id, "from": before, "to": outcome,
                         "reason": reason, "followup_id": referral.outcome_followup_id})
    if outcome in FINAL_OUTCOMES and referral.kind == "center":
        door.expire_on_event(session, "referral_closed", caller=referral.contact.caller_hash,
                                center_id=referral.target_id, now=now)
    return referral


# --- the report ---------------------------------------------------------------------------


def _in_range(lo: dt.datetime, hi: dt.datetime, queue: str | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [Referral.kind == "center", Referral.created_at >= lo,
                                        Referral.created_at < hi]
    if queue:
        in_queue = select(Call.id).where(Call.queue_name == queue)
        where.append(Referral.contact_id.in_(select(Contact.id)
                                             .where(Contact.call_id.in_(in_queue))))
    return where


def _rate(part: int, whole: int) -> str:
    return f"{part / whole * 100:.1f}%" if whole else ""


def admission_tables(session: Session, lo: dt.datetime, hi: dt.datetime,
                     queue: str | None) -> dict[str, Table]:
    """Referrals to centers made in [lo, hi) and how many became admissions: one table per
    center (with handoffs and known outcomes) and one per type of care the center offers."""
    where = _in_range(lo, hi, queue)
    admitted = func.sum(case((Referral.outcome == "admitted", 1), else_=0))
    per_center = session.execute(
        select(Referral.target_id, func.max(Referral.target_name), func.count(),
               func.sum(case((Referral.handed_off_at.is_not(None), 1), else_=0)),
               func.sum(case((Referral.outcome.is_not(None), 1), else_=0)), admitted)
        .where(*where).group_by(Referral.target_id)).all()
    rows: list[list[object]] = [
        [name, int(n), int(handed or 0), int(known or 0), int(adm or 0),
         _rate(int(adm or 0), int(n))]
        for _id, name, n, handed, known, adm in sorted(
            per_center, key=lambda r: (-int(r[5] or 0), -int(r[2]), str(r[1])))]
    by_center = Table("admissions_center", "Referrals to centers that became admissions",
                      ["Center", "Referrals", "Warm handoffs", "Outcome known", "Admitted",
                       "Admission rate"], rows)
    care = session.execute(
        select(CenterService.label, func.count(), admitted)
        .select_from(Referral)
        .join(CenterService, and_(CenterService.center_id == Referral.target_id,
                                  CenterService.facet == "care"))
        .where(*where).group_by(CenterService.label)).all()
    care_rows: list[list[object]] = [
        [label, int(n), int(adm or 0), _rate(int(adm or 0), int(n))]
        for label, n, adm in sorted(care, key=lambda r: (-int(r[2] or 0), -int(r[1]), r[0]))]
    by_care = Table("admissions_care", "Referrals that became admissions, by type of care",
                    ["Type of care", "Referrals", "Admitted", "Admission rate"], care_rows)
    return {by_center.key: by_center, by_care.key: by_care}
