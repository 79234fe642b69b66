"""The live figures of the floor: who is waiting, who is free, and how today is going.

Read every few seconds by the wallboard page (server-sent events), so every figure is one
small query: the waiting callers come from :func:`helpline.queues.queue_snapshot`, today's
figures from one grouped query over today's calls (today in the helpline's time zone).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from helpline.calls.queues import queue_snapshot
from helpline.db import utcnow
from helpline.models import AgentStatus, Call, Outcome, Role, User
from helpline.records.overdose import OverdoseInProgress, overdoses_in_progress

STATUS_ORDER = (AgentStatus.AVAILABLE, AgentStatus.ON_CALL, AgentStatus.WRAP_UP,
                AgentStatus.AWAY, AgentStatus.OFFLINE)


@dataclass
class QueueLine:
    name: str
    need: str
    language: str
    waiting: int
    longest_wait_seconds: int
    crisis: bool


@dataclass
class StaffLine:
    name: str
    status: str
    seconds_in_status: int


@dataclass
class Wallboard:
    at: str  # ISO time of the snapshot
    queues: list[QueueLine] = field(default_factory=list)
    waiting: int = 0
    longest_wait_seconds: int = 0
    counselors: dict[str, int] = field(default_factory=dict)
    staff: list[StaffLine] = field(default_factory=list)
    with_counselor: int = 0
    in_menu: int = 0
    offered_today: int = 0
    answered_today: int = 0
    abandoned_today: int = 0
    callbacks_today: int = 0
    service_level_today: dict[str, float | None] = field(default_factory=dict)
    average_speed_of_answer_today: float | None = None
    # Overdoses in progress (helpline.overdose), longest running first: shown at the top.
    overdoses: list[OverdoseInProgress] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def local_midnight(now: dt.datetime, timezone: str) -> dt.datetime:
    """The UTC instant at which ``now``'s local day began."""
    zone = ZoneInfo(timezone)
    day = now.astimezone(zone).date()
    return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)


def wallboard(session: Session, *, timezone: str, now: dt.datetime | None = None) -> Wallboard:
    """A snapshot of the floor at ``now`` (waiting callers, counselors, today's figures)."""
    now = now or utcnow()
    board = Wallboard(at=now.isoformat(timespec="seconds"))
    for q in queue_snapshot(session, now=now):
        board.queues.append(QueueLine(q.name, q.need, q.language, q.waiting,
                                      q.longest_wait_seconds, q.crisis))
    board.waiting = sum(q.waiting for q in board.queues)
    board.longest_wait_seconds = max((q.longest_wait_seconds for q in board.queues), default=0)

    board.counselors = {str(s): 0 for s in STATUS_ORDER}
    staff = session.scalars(select(User).where(User.active.is_(True),
                                               User.role == Role.COUNSELOR)
                            .order_by(User.display_name, User.id))
    for user in staff:
        board.counselors[user.status] = board.counselors.get(user.status, 0) + 1
        if user.status != AgentStatus.OFFLINE:
            since = max(0, int((now - user.status_since).total_seconds()))
            board.staff.append(StaffLine(user.display_name or user.username, user.status, since))

    midnight = local_midnight(now, timezone)
    live = and_(Call.status == "in-progress", Call.ended_at.is_(None),
                Call.started_at >= now - dt.timedelta(hours=12))
    board.with_counselor, board.in_menu = session.execute(
        select(func.coalesce(func.sum(case((and_(live, Call.answered_at.is_not(None)), 1),
                                           else_=0)), 0),
               func.coalesce(func.sum(case((and_(live, Call.answered_at.is_(None)), 1),
                                           else_=0)), 0))
        .where(Call.started_at >= now - dt.timedelta(hours=12))
    ).one()
    _today(session, board, midnight, now)
    board.overdoses = overdoses_in_progress(session, now=now)
    return board


def _today(session: Session, board: Wallboard, midnight: dt.datetime, now: dt.datetime) -> None:
    answered = Call.answered_at.is_not(None)
    (offered, n_answered, abandoned, callbacks, asa_n, asa_sum, sl30, sl60) = session.execute(
        select(
            func.sum(case((Call.queue_name.is_not(None), 1), else_=0)),
            func.sum(case((answered, 1), else_=0)),
            func.sum(case((Call.outcome == Outcome.ABANDONED_QUEUE, 1), else_=0)),
            func.sum(case((Call.outcome == Outcome.CALLBACK, 1), else_=0)),
            func.count(case((answered, Call.wait_seconds))),
            func.sum(case((answered, Call.wait_seconds))),
            func.sum(case((and_(answered, Call.wait_seconds <= 30), 1), else_=0)),
            func.sum(case((and_(answered, Call.wait_seconds <= 60), 1), else_=0)),
        ).where(Call.started_at >= midnight, Call.started_at <= now)
    ).one()
    board.offered_today = int(offered or 0)
    board.answered_today = int(n_answered or 0)
    board.abandoned_today = int(abandoned or 0)
    board.callbacks_today = int(callbacks or 0)
    board.average_speed_of_answer_today = (float(asa_sum) / asa_n) if asa_n else None
    board.service_level_today = {
        "30": (int(sl30 or 0) / board.offered_today) if board.offered_today else None,
        "60": (int(sl60 or 0) / board.offered_today) if board.offered_today else None,
    }
