"""Offers in the reports: speed of answer split into queue time and ring time, and the offers
each counselor accepted, declined or missed.

Definitions:
- *queue time* of an answered call: from entering the queue to the moment the offer that was
  accepted began to ring (``Offer.offered_at - Call.enqueued_at``); it includes earlier offers
  of the same call that were declined or rang out;
- *ring time*: from that offer ringing to its acceptance (``Offer.ended_at - offered_at``);
- a call answered with "Take next call" rang nobody: its whole wait is queue time and its ring
  time is 0. Averages are over every answered call, so queue time + ring time = speed of answer
  (to the second); the ring time of the calls answered from an offer alone is given beside it;
- offers are counted in the range they rang in (``Offer.offered_at``).

Offers per counselor name staff: they are for supervisors, never in the API's figures
(:attr:`helpline.reporting.reports.Report.staff_tables`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    SQLColumnExpression,
    Subquery,
    and_,
    case,
    cast,
    extract,
    func,
    select,
)
from sqlalchemy.orm import Session

from helpline.models import Call, Offer, OfferState, Outcome, User
from helpline.reporting.tables import Table

# The order offers' states are shown in.
STATES = (OfferState.ACCEPTED, OfferState.DECLINED, OfferState.MISSED, OfferState.WITHDRAWN,
          OfferState.RINGING)
STATE_LABELS = {OfferState.ACCEPTED: "Accepted", OfferState.DECLINED: "Declined",
                OfferState.MISSED: "Missed (rang out)",
                OfferState.WITHDRAWN: "Withdrawn (caller left or taken another way)",
                OfferState.RINGING: "Ringing now"}


def seconds_between(session: Session, later: SQLColumnExpression[dt.datetime | None],
                    earlier: SQLColumnExpression[dt.datetime | None]) -> ColumnElement[float]:
    """``later - earlier`` in seconds (fractions kept), computed in the database."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(extract("epoch", later - earlier), Float)
    # julianday keeps the fractions of a second; rounded to the millisecond its float noise.
    return func.round((func.julianday(later) - func.julianday(earlier)) * 86400.0, 3)


@dataclass
class AnswerSplit:
    """How the answered calls of a range were answered, and their wait split in two."""

    answered: int = 0
    after_offer: int = 0   # a counselor accepted an offer
    take_next: int = 0     # a counselor clicked "Take next call": nothing rang
    average_queue_seconds: float | None = None
    average_ring_seconds: float | None = None          # every answered call; take next is 0
    average_ring_seconds_offered: float | None = None  # the calls answered from an offer


def answering_offers(where: list[ColumnElement[bool]]) -> Subquery:
    """Each answered call ``where`` selects: when it entered the queue, its wait, and when the
    offer that answered it rang and was accepted (its accepted offer: the latest, should a call
    be offered again later; None for take next).

    The offer's moments are read per call by the index on ``offers.call_id`` alone (a few rows),
    the calls by the report's range: no join, no GROUP BY over calls and no offer state in a
    WHERE, so the plan stays linear in the calls of the range whatever the planner's statistics
    say (on fresh tables, a join asking the offer's state was planned as a loop over every pair
    of call and accepted offer).
    """
    accepted = Offer.state == OfferState.ACCEPTED
    return (select(Call.enqueued_at.label("enqueued_at"),
                   Call.wait_seconds.label("wait_seconds"),
                   _per_call(func.max(case((accepted, Offer.offered_at)))).label("offered_at"),
                   _per_call(func.max(case((accepted, Offer.ended_at)))).label("accepted_at"))
            .where(*where, Call.outcome == Outcome.ANSWERED).subquery())


def _per_call(aggregate: ColumnElement[Any]) -> ColumnElement[Any]:
    """``aggregate`` over the offers of the enclosing query's call."""
    return select(aggregate).where(Offer.call_id == Call.id).correlate(Call).scalar_subquery()


def answer_split(session: Session, where: list[ColumnElement[bool]]) -> AnswerSplit:
    """The answered calls among those ``where`` selects (the report's call filter)."""
    calls = answering_offers(where)
    offered = calls.c.offered_at.is_not(None)
    queue = case((offered, seconds_between(session, calls.c.offered_at, calls.c.enqueued_at)),
                 else_=cast(calls.c.wait_seconds, Float))
    ring = seconds_between(session, calls.c.accepted_at, calls.c.offered_at)
    n, n_offer, queue_n, queue_sum, ring_sum = session.execute(
        select(func.count(), func.count(calls.c.offered_at), func.count(queue),
               func.sum(queue), func.sum(case((offered, ring), else_=0.0)))
        .select_from(calls)).one()
    split = AnswerSplit(answered=int(n), after_offer=int(n_offer), take_next=int(n - n_offer))
    if queue_n:
        split.average_queue_seconds = float(queue_sum or 0) / queue_n
    if n:
        split.average_ring_seconds = float(ring_sum or 0) / n
    if n_offer:
        split.average_ring_seconds_offered = float(ring_sum or 0) / n_offer
    return split


@dataclass
class CounselorOffers:
    """One counselor's offers in a range."""

    user_id: int
    name: str
    offers: int = 0
    accepted: int = 0
    declined: int = 0
    missed: int = 0
    withdrawn: int = 0
    average_ring_seconds: float | None = None  # before accepting

    @property
    def missed_share(self) -> float | None:
        """Offers declined or rung out, of those that reached an answer either way."""
        decided = self.accepted + self.declined + self.missed
        return (self.declined + self.missed) / decided if decided else None


def offers_by_counselor(session: Session, lo: dt.datetime, hi: dt.datetime,
                        queue: str | None = None) -> dict[int, CounselorOffers]:
    """Per counselor: the offers rung to them in [lo, hi) and how each ended."""
    ring = seconds_between(session, Offer.ended_at, Offer.offered_at)
    accepted = Offer.state == OfferState.ACCEPTED
    query = (select(Offer.counselor_id, User.display_name, User.username, Offer.state,
                    func.count(), func.sum(case((accepted, ring))))
             .join(User, User.id == Offer.counselor_id)
             .where(Offer.offered_at >= lo, Offer.offered_at < hi)
             .group_by(Offer.counselor_id, User.display_name, User.username, Offer.state))
    if queue:
        query = query.join(Call, and_(Call.id == Offer.call_id, Call.queue_name == queue))
    result: dict[int, CounselorOffers] = {}
    for user_id, display_name, username, state, n, ring_sum in session.execute(query):
        line = result.setdefault(user_id, CounselorOffers(user_id, display_name or username))
        line.offers += n
        if state in (OfferState.ACCEPTED, OfferState.DECLINED, OfferState.MISSED,
                     OfferState.WITHDRAWN):
            setattr(line, str(state), getattr(line, str(state)) + n)
        if state == OfferState.ACCEPTED and n:
            line.average_ring_seconds = float(ring_sum or 0) / n
    return dict(sorted(result.items(), key=lambda kv: (kv[1].name.lower(), kv[0])))


def offer_states(session: Session, lo: dt.datetime, hi: dt.datetime,
                 queue: str | None = None) -> dict[str, int]:
    """How the offers rung in [lo, hi) ended, by state."""
    query = (select(Offer.state, func.count())
             .where(Offer.offered_at >= lo, Offer.offered_at < hi).group_by(Offer.state))
    if queue:
        query = query.join(Call, and_(Call.id == Offer.call_id, Call.queue_name == queue))
    counts = {str(state): int(n) for state, n in session.execute(query)}
    return {str(state): counts.get(str(state), 0) for state in STATES}


def offer_states_table(states: dict[str, int]) -> Table:
    """Offers by how they ended (counts only: safe for the API's figures)."""
    rows: list[list[object]] = [[STATE_LABELS[OfferState(state)], n]
                                for state, n in states.items()
                                if n or state != OfferState.RINGING]
    return Table("offers", "Offers to counselors by how they ended", ["Offer", "Offers"], rows)


def counselor_offers_table(lines: dict[int, CounselorOffers]) -> Table:
    """Offers per counselor: for supervisors only (it names staff)."""
    rows: list[list[object]] = []
    for line in lines.values():
        share = line.missed_share
        rows.append([line.name, line.offers, line.accepted, line.declined, line.missed,
                     line.withdrawn, "" if share is None else f"{share * 100:.1f}%",
                     "" if line.average_ring_seconds is None
                     else round(line.average_ring_seconds, 1)])
    return Table("counselor_offers", "Offers per counselor",
                 ["Counselor", "Offers", "Accepted", "Declined", "Missed", "Withdrawn",
                  "Declined or missed", "Average ring before accepting (s)"], rows)
