"""Closed-loop referrals in the report: how many referrals to centers became admissions, per
center and per type of care the center offers. The outcomes themselves are recorded by
:mod:`helpline.referrals.outcomes`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from helpline.models import Call, CenterService, Contact, Referral
from helpline.reporting.tables import Table


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
