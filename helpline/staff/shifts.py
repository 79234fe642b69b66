"""Staff for supervisors: each counselor's shift statistics, and routing details
(role, languages, phone) changed with validation and an audit event."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from helpline import audit, phones
from helpline.models import Call, Contact, Role, User
from helpline.staff.accounts import LANGUAGES, AccountError
from helpline.staff.roles import Action, can


@dataclass
class ShiftStats:
    user_id: int
    name: str
    role: str
    active: bool
    status: str
    languages: str
    has_phone: bool
    calls: int = 0
    talk_seconds: int = 0
    average_talk_seconds: float | None = None
    average_wait_seconds: float | None = None
    contacts_closed: int = 0


def shift_statistics(session: Session, start: dt.datetime, end: dt.datetime) -> list[ShiftStats]:
    """Per staff member: calls answered in [start, end), talk time, answer wait, records closed."""
    stats = {u.id: ShiftStats(u.id, u.display_name or u.username, u.role, u.active, u.status,
                              u.languages, bool(u.phone))
             for u in session.scalars(select(User).order_by(User.display_name, User.id))}
    calls = session.execute(
        select(Call.counselor_id, func.count(), func.sum(Call.talk_seconds),
               func.count(Call.talk_seconds), func.avg(Call.wait_seconds))
        .where(Call.counselor_id.is_not(None), Call.answered_at >= start,
               Call.answered_at < end)
        .group_by(Call.counselor_id))
    for user_id, n, talk, talk_n, wait in calls:
        s = stats.get(user_id)
        if s is None:
            continue
        s.calls = n
        s.talk_seconds = int(talk or 0)
        s.average_talk_seconds = (talk or 0) / talk_n if talk_n else None
        s.average_wait_seconds = float(wait) if wait is not None else None
    closed = session.execute(
        select(Contact.counselor_id, func.count())
        .where(and_(Contact.closed_at >= start, Contact.closed_at < end))
        .group_by(Contact.counselor_id))
    for user_id, n in closed:
        if user_id in stats:
            stats[user_id].contacts_closed = n
    return list(stats.values())


def update_routing(session: Session, user: User, *, by: User, languages: str | None = None,
                   phone: str | None = None, clear_phone: bool = False,
                   role: str | None = None) -> list[str]:
    """Change a staff member's languages, phone or role; return the fields changed.

    Only an admin changes roles, and nobody changes their own. Raises :class:`AccountError`
    with a clear reason. The audit event names the fields, never the number.
    """
    changed: list[str] = []
    if languages is not None:
        langs = languages.split()
        if not langs or set(langs) - LANGUAGES:
            raise AccountError("languages must be a space-separated choice of: "
                               + " ".join(sorted(LANGUAGES)))
        value = " ".join(dict.fromkeys(langs))
        if value != user.languages:
            user.languages = value
            changed.append("languages")
    if clear_phone:
        if user.phone is not None:
            user.phone = None
            changed.append("phone")
    elif phone:
        try:
            number = phones.to_e164(phone, field="the staff member's phone")
        except phones.PhoneNumberError as exc:
            raise AccountError(f"{exc}: give it in international form, e.g. "
                               "+15555550123") from None
        if number != user.phone:
            user.phone = number
            changed.append("phone")
    if role is not None and role != user.role:
        if not can(by, Action.MANAGE_ACCOUNTS):
            raise AccountError("only an admin can change a role")
        if by.id == user.id:
            raise AccountError("you cannot change your own role")
        if role not in set(Role):
            raise AccountError(f"unknown role {role!r}: choose counselor, supervisor or admin")
        user.role = role
        changed.append("role")
    if changed:
        audit.record(session, "user.update", actor=by, record_type="user", record_id=user.id,
                     detail={"fields": changed, **({"role": role} if "role" in changed else {})})
    return changed
