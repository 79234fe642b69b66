"""What staff see of follow-ups: the supervisor console's lists and filters, a counselor's own
follow-ups, and the dashboard notices (reminders for counselors, overdue alerts for supervisors).

Reads only, apart from dismissing a notice. The life cycle itself is :mod:`helpline.followups`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from helpline.db import affected_rows, utcnow
from helpline.followups.lifecycle import (
    NO_RESULT_AFTER,
    OVERDUE_AFTER,
    STUCK_SENDING_AFTER,
    UNSCHEDULED_AFTER,
)
from helpline.models import User
from helpline.models.followups import (
    CLOSED_STATES,
    DUE_STATES,
    OPEN_STATES,
    FollowUp,
    FollowUpNotice,
    FollowUpState,
)

#: The console's lists, in the order supervisors work through them.
VIEWS = {
    "requested": "Requests to schedule",
    "due": "Due now",
    "overdue": "Overdue",
    "upcoming": "Scheduled",
    "waiting": "Waiting for a result",
    "done": "Done",
}
_IN_FLIGHT = (FollowUpState.SENDING, FollowUpState.AWAITING_RESULT)


def overdue_clause(now: dt.datetime) -> Any:
    """Late, stuck, unscheduled or unresolved: what supervisors are alerted to."""
    return or_(
        and_(FollowUp.state.in_(DUE_STATES), FollowUp.due_at < now - OVERDUE_AFTER),
        and_(FollowUp.state == FollowUpState.SENDING,
             FollowUp.claimed_at < now - STUCK_SENDING_AFTER),
        and_(FollowUp.state == FollowUpState.REQUESTED,
             FollowUp.created_at < now - UNSCHEDULED_AFTER),
        and_(FollowUp.state == FollowUpState.AWAITING_RESULT,
             FollowUp.claimed_at < now - NO_RESULT_AFTER),
    )


def _view_clause(view: str, now: dt.datetime) -> Any:
    if view == "requested":
        return FollowUp.state == FollowUpState.REQUESTED
    if view == "due":
        return and_(FollowUp.state.in_(DUE_STATES), FollowUp.due_at <= now)
    if view == "upcoming":
        return and_(FollowUp.state.in_(DUE_STATES), FollowUp.due_at > now)
    if view == "overdue":
        return overdue_clause(now)
    if view == "waiting":
        return FollowUp.state.in_(_IN_FLIGHT)
    if view == "done":
        return FollowUp.state.in_(CLOSED_STATES)
    raise ValueError(f"unknown list {view!r}")


_ORDER = {
    "requested": (FollowUp.created_at, FollowUp.id),
    "due": (FollowUp.queued_since, FollowUp.due_at, FollowUp.id),
    "upcoming": (FollowUp.due_at, FollowUp.id),
    "overdue": (FollowUp.due_at, FollowUp.id),
    "waiting": (FollowUp.claimed_at, FollowUp.id),
    "done": (FollowUp.closed_at.desc(), FollowUp.id.desc()),
}


@dataclass(frozen=True)
class ConsoleFilters:
    """The console's filters; ``None`` means any."""

    counselor_id: int | None = None  # assigned to this counselor
    unassigned: bool = False  # left to the next available counselor
    kind: str | None = None
    state: str | None = None

    def clauses(self) -> list[Any]:
        where: list[Any] = []
        if self.unassigned:
            where.append(FollowUp.assigned_to_id.is_(None))
        elif self.counselor_id is not None:
            where.append(FollowUp.assigned_to_id == self.counselor_id)
        if self.kind:
            where.append(FollowUp.kind == self.kind)
        if self.state:
            where.append(FollowUp.state == self.state)
        return where


def console_list(session: Session, view: str, filters: ConsoleFilters = ConsoleFilters(),
                 now: dt.datetime | None = None, limit: int = 200) -> list[FollowUp]:
    """One of the console's lists (see :data:`VIEWS`), filtered, in working order."""
    now = now or utcnow()
    query = (select(FollowUp).where(_view_clause(view, now), *filters.clauses())
             .order_by(*_ORDER[view]).limit(limit))
    return list(session.scalars(query))


def console_counts(session: Session, filters: ConsoleFilters = ConsoleFilters(),
                   now: dt.datetime | None = None) -> dict[str, int]:
    """How many follow-ups each of the console's lists holds, under the same filters."""
    now = now or utcnow()
    return {view: session.scalar(select(func.count(FollowUp.id))
                                 .where(_view_clause(view, now), *filters.clauses())) or 0
            for view in VIEWS}


def requested_followups(session: Session) -> list[FollowUp]:
    """Requests waiting for a supervisor to schedule them, oldest first."""
    return list(session.scalars(select(FollowUp).where(_view_clause("requested", utcnow()))
                                .order_by(*_ORDER["requested"])))


def due_followups(session: Session, now: dt.datetime | None = None,
                  limit: int | None = None) -> list[FollowUp]:
    """Follow-ups whose time has come, in delivery order (callbacks by when callers held)."""
    query = (select(FollowUp).where(_view_clause("due", now or utcnow()))
             .order_by(*_ORDER["due"]))
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


def upcoming_followups(session: Session, now: dt.datetime | None = None) -> list[FollowUp]:
    """Scheduled follow-ups not yet due, soonest first."""
    return list(session.scalars(select(FollowUp).where(_view_clause("upcoming", now or utcnow()))
                                .order_by(*_ORDER["upcoming"])))


def overdue_followups(session: Session, now: dt.datetime | None = None) -> list[FollowUp]:
    """Late, stuck, unscheduled or unresolved follow-ups that need a supervisor."""
    return list(session.scalars(select(FollowUp).where(overdue_clause(now or utcnow()))
                                .order_by(*_ORDER["overdue"])))


def done_followups(session: Session, since: dt.datetime | None = None,
                   limit: int = 200) -> list[FollowUp]:
    """Closed follow-ups (done, cancelled, stopped) with their outcomes, latest first."""
    query = select(FollowUp).where(FollowUp.state.in_(CLOSED_STATES))
    if since is not None:
        query = query.where(FollowUp.closed_at >= since)
    return list(session.scalars(query.order_by(*_ORDER["done"]).limit(limit)))


def my_followups(session: Session, user: User, closed_limit: int = 20) -> tuple[
        list[FollowUp], list[FollowUp]]:
    """A counselor's follow-ups: the open ones assigned to them or ringing them (soonest
    first), and the latest of those closed."""
    mine = or_(FollowUp.assigned_to_id == user.id, FollowUp.bridged_to_id == user.id)
    open_ones = list(session.scalars(
        select(FollowUp).where(mine, FollowUp.state.in_(OPEN_STATES))
        .order_by(FollowUp.due_at.is_(None), FollowUp.due_at, FollowUp.id)))
    closed = list(session.scalars(
        select(FollowUp).where(mine, FollowUp.state.in_(CLOSED_STATES))
        .order_by(*_ORDER["done"]).limit(closed_limit)))
    return open_ones, closed


# --- notices --------------------------------------------------------------------------------


def _for_user(user: User) -> Any:
    return and_(FollowUpNotice.read_at.is_(None),
                or_(FollowUpNotice.user_id == user.id,
                    and_(FollowUpNotice.user_id.is_(None), FollowUpNotice.role == user.role)))


def notices_for(session: Session, user: User) -> list[FollowUpNotice]:
    """Unread follow-up notices for this user (their own and their role's)."""
    return list(session.scalars(select(FollowUpNotice).where(_for_user(user))
                                .order_by(FollowUpNotice.id)))


def notice_count(session: Session, user: User) -> int:
    """How many unread notices this user has (the count in the top bar)."""
    return session.scalar(select(func.count(FollowUpNotice.id)).where(_for_user(user))) or 0


def dismiss_notice(session: Session, notice_id: int, user: User,
                   now: dt.datetime | None = None) -> bool:
    """Mark a notice read (for everyone it was for). False if it is not this user's."""
    changed = affected_rows(session.execute(
        update(FollowUpNotice).where(FollowUpNotice.id == notice_id, _for_user(user))
        .values(read_at=now or utcnow()).execution_options(synchronize_session=False)
    ))
    return changed == 1


def dismiss_notices_of(session: Session, followup_id: int, user: User, *,
                       include_role: bool = False, now: dt.datetime | None = None) -> int:
    """Mark read the notices about one follow-up addressed to this user, and with
    ``include_role`` those to their whole role (once someone has taken it on)."""
    addressed = (_for_user(user) if include_role
                 else and_(FollowUpNotice.read_at.is_(None), FollowUpNotice.user_id == user.id))
    return affected_rows(session.execute(
        update(FollowUpNotice).where(FollowUpNotice.followup_id == followup_id, addressed)
        .values(read_at=now or utcnow()).execution_options(synchronize_session=False)
    ))
