"""The live figures of the floor: who is waiting, who is free, and how today is going.

Read every few seconds by the wallboard page (server-sent events), so every figure is one
small query: the waiting callers come from :func:`helpline.queues.queue_snapshot`, today's
figures from one grouped query over today's calls (today in the helpline's time zone).

Staff are everyone who takes calls (``CALL_TAKERS``, as routing offers them calls): each
one's status and time in it, an offer ringing for them, why routing made them
Away, the status they return to after the call, and a raised hand. A queue asking a skill
(``Settings.queue_skills``) with callers waiting and nobody signed in holding it is a warning.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Float,
    SQLColumnExpression,
    and_,
    case,
    cast,
    extract,
    func,
    select,
)
from sqlalchemy.orm import Session

from helpline.calls.queues import queue_snapshot
from helpline.calls.routing import CALL_TAKERS, MISSED_OFFER
from helpline.db import utcnow
from helpline.models import AgentStatus, Call, Offer, OfferState, Outcome, User
from helpline.records.overdose import OverdoseInProgress, overdoses_in_progress

# Said on the board beside Away when routing made a counselor Away.
REASONS = {MISSED_OFFER: "missed a call"}
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
    user_id: int = 0
    role: str = "counselor"
    # Why the status is what it is when routing chose it ("missed_offer"), else None.
    reason: str | None = None
    # Mid-call, the status chosen for after the record is closed (None: back to the one before).
    after_call: str | None = None
    ringing_seconds: int | None = None      # an offer rings for them, for this long
    hand_raised_seconds: int | None = None  # their hand is up, for this long
    skills: str = ""


@dataclass
class SkillGap:
    """Callers wait in a queue asking a skill that nobody signed in holds."""

    group: str
    skill: str
    waiting: int


@dataclass
class Wallboard:
    at: str  # ISO time of the snapshot
    queues: list[QueueLine] = field(default_factory=list)
    waiting: int = 0
    longest_wait_seconds: int = 0
    counselors: dict[str, int] = field(default_factory=dict)
    staff: list[StaffLine] = field(default_factory=list)
    # Raised hands, the longest raised first: shown at the top until acknowledged or lowered.
    hands: list[StaffLine] = field(default_factory=list)
    skill_gaps: list[SkillGap] = field(default_factory=list)
    # In wrap-up longer than WRAP_UP_LIMIT_MINUTES, the longest first.
    long_wrap_ups: list[StaffLine] = field(default_factory=list)
    with_counselor: int = 0
    in_menu: int = 0
    offered_today: int = 0
    answered_today: int = 0
    abandoned_today: int = 0
    callbacks_today: int = 0
    service_level_today: dict[str, float | None] = field(default_factory=dict)
    average_speed_of_answer_today: float | None = None
    # Speed of answer split (helpline.reporting.offers: take next rings nobody, so counts 0).
    average_queue_seconds_today: float | None = None
    average_ring_seconds_today: float | None = None
    missed_offers_today: int = 0
    declined_offers_today: int = 0
    # Overdoses in progress (helpline.overdose), longest running first: shown at the top.
    overdoses: list[OverdoseInProgress] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def local_midnight(now: dt.datetime, timezone: str) -> dt.datetime:
    """The UTC instant at which ``now``'s local day began."""
    zone = ZoneInfo(timezone)
    day = now.astimezone(zone).date()
    return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)


def wallboard(session: Session, *, timezone: str, now: dt.datetime | None = None,
              queue_skills: Mapping[str, str] | None = None,
              wrap_up_limit_minutes: int | None = None) -> Wallboard:
    """A snapshot of the floor at ``now`` (waiting callers, counselors, today's figures);
    ``queue_skills`` the skill each queue group asks for (``Settings.queue_skills``), and
    the wrap-up after which a counselor is shown as taking long (``WRAP_UP_LIMIT_MINUTES``)."""
    now = now or utcnow()
    board = Wallboard(at=now.isoformat(timespec="seconds"))
    for q in queue_snapshot(session, now=now):
        board.queues.append(QueueLine(q.name, q.need, q.language, q.waiting,
                                      q.longest_wait_seconds, q.crisis))
    board.waiting = sum(q.waiting for q in board.queues)
    board.longest_wait_seconds = max((q.longest_wait_seconds for q in board.queues), default=0)

    _staff(session, board, now, queue_skills or {})
    if wrap_up_limit_minutes is not None:
        board.long_wrap_ups = sorted(
            (line for line in board.staff if line.status == AgentStatus.WRAP_UP
             and line.seconds_in_status >= wrap_up_limit_minutes * 60),
            key=lambda line: -line.seconds_in_status)

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
    _today_offers(session, board, midnight, now)
    board.overdoses = overdoses_in_progress(session, now=now)
    return board


def _seconds(now: dt.datetime, since: dt.datetime | None) -> int | None:
    return None if since is None else max(0, int((now - since).total_seconds()))


def _staff(session: Session, board: Wallboard, now: dt.datetime,
           queue_skills: Mapping[str, str]) -> None:
    board.counselors = {str(s): 0 for s in STATUS_ORDER}
    ringing = {counselor_id: at for counselor_id, at in session.execute(
        select(Offer.counselor_id, Offer.offered_at).where(Offer.state == OfferState.RINGING))}
    staff = session.scalars(select(User).where(User.active.is_(True),
                                               User.role.in_(CALL_TAKERS))
                            .order_by(User.display_name, User.id))
    skills_signed_in: set[str] = set()
    for user in staff:
        board.counselors[user.status] = board.counselors.get(user.status, 0) + 1
        if user.status == AgentStatus.OFFLINE and user.hand_raised_at is None:
            continue
        skills_signed_in.update(user.skill_list if user.status != AgentStatus.OFFLINE else ())
        line = StaffLine(
            user.display_name or user.username, user.status,
            _seconds(now, user.status_since) or 0, user_id=user.id, role=user.role,
            reason=user.status_reason,
            after_call=user.status_before_call
            if user.status in (AgentStatus.ON_CALL, AgentStatus.WRAP_UP) else None,
            ringing_seconds=_seconds(now, ringing.get(user.id)),
            hand_raised_seconds=_seconds(now, user.hand_raised_at), skills=user.skills)
        if user.status != AgentStatus.OFFLINE:
            board.staff.append(line)
        if user.hand_raised_at is not None:
            board.hands.append(line)
    board.hands.sort(key=lambda line: -(line.hand_raised_seconds or 0))
    for q in board.queues:
        skill = queue_skills.get(q.need)
        if skill and q.waiting and skill not in skills_signed_in:
            gap = next((g for g in board.skill_gaps if g.group == q.need), None)
            if gap is None:
                board.skill_gaps.append(SkillGap(q.need, skill, q.waiting))
            else:
                gap.waiting += q.waiting


def _between(session: Session, later: SQLColumnExpression[dt.datetime | None],
             earlier: SQLColumnExpression[dt.datetime | None]) -> ColumnElement[float]:
    """``later - earlier`` in seconds, in the database (as helpline.reporting.offers)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(extract("epoch", later - earlier), Float)
    # julianday keeps the fractions of a second; rounded to the millisecond its float noise.
    return func.round((func.julianday(later) - func.julianday(earlier)) * 86400.0, 3)


def _today_offers(session: Session, board: Wallboard, midnight: dt.datetime,
                  now: dt.datetime) -> None:
    """Today's speed of answer split into queue and ring time, and the offers of today's
    calls missed and declined.

    Offers are reached through today's calls (the index on calls.started_at, then the one on
    offers.call_id, a few rows per call), never joined, filtered by state in a WHERE or grouped
    by call (which SQLite answers by scanning every call in key order): read every second, this
    stays as quick after a year of offers, whatever the planner's statistics say.
    """
    def per_call(aggregate: ColumnElement[Any]) -> ColumnElement[Any]:
        return (select(aggregate).where(Offer.call_id == Call.id).correlate(Call)
                .scalar_subquery())

    accepted = Offer.state == OfferState.ACCEPTED
    calls = (select(Call.enqueued_at.label("enqueued_at"),
                    Call.wait_seconds.label("wait_seconds"),
                    Call.answered_at.is_not(None).label("answered"),
                    # The offer that answered (the latest accepted): when it rang, was accepted.
                    per_call(func.max(case((accepted, Offer.offered_at)))).label("offered_at"),
                    per_call(func.max(case((accepted, Offer.ended_at)))).label("accepted_at"),
                    per_call(func.count(case((Offer.state == OfferState.MISSED, 1))))
                    .label("missed"),
                    per_call(func.count(case((Offer.state == OfferState.DECLINED, 1))))
                    .label("declined"))
             .where(Call.started_at >= midnight, Call.started_at <= now).subquery())
    answered = calls.c.answered
    offered = calls.c.offered_at.is_not(None)
    queue = case((offered, _between(session, calls.c.offered_at, calls.c.enqueued_at)),
                 else_=cast(calls.c.wait_seconds, Float))
    ring = case((offered, _between(session, calls.c.accepted_at, calls.c.offered_at)),
                else_=0.0)
    n, queue_n, queue_sum, ring_sum, missed, declined = session.execute(
        select(func.count(case((answered, 1))), func.count(case((answered, queue))),
               func.sum(case((answered, queue))), func.sum(case((answered, ring))),
               func.sum(calls.c.missed), func.sum(calls.c.declined))
        .select_from(calls)).one()
    board.average_queue_seconds_today = float(queue_sum or 0) / queue_n if queue_n else None
    board.average_ring_seconds_today = float(ring_sum or 0) / n if n else None
    board.missed_offers_today = int(missed or 0)
    board.declined_offers_today = int(declined or 0)


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
