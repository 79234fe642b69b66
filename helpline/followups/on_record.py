"""The follow-ups counselors see without the follow-up console: those of the caller on a
record, and the callbacks callers booked from the queue (on Home).

A counselor who does not see a follow-up already requested asks for it again, and a caller
who pressed a key for a callback is a caller still waiting: both are shown where counselors
look. Reads only; no number is read here (the follow-up's number has its own audited door).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from helpline.models import Call, Contact
from helpline.models.followups import OPEN_STATES, FollowUp

#: Where a follow-up came from when a caller chose a callback while holding.
QUEUE_CALLBACK = "ivr_callback"


def for_record(session: Session, contact: Contact, limit: int = 20) -> list[FollowUp]:
    """The follow-ups a record shows: every one requested on it or for its call (a callback
    booked from the queue before the call was answered), and the caller's other open ones
    (requested on an earlier call); newest first."""
    mine = [FollowUp.contact_id == contact.id]
    if contact.call_id is not None:
        mine.append(FollowUp.call_id == contact.call_id)
    if contact.caller_hash is not None:
        mine.append(and_(FollowUp.caller_hash == contact.caller_hash,
                         FollowUp.state.in_(OPEN_STATES)))
    return list(session.scalars(select(FollowUp).where(or_(*mine))
                                .order_by(FollowUp.created_at.desc(), FollowUp.id.desc())
                                .limit(limit)))


def is_open(followup: FollowUp) -> bool:
    return followup.state in OPEN_STATES


@dataclass(frozen=True)
class QueueCallback:
    """A callback a caller booked from the queue, with what the phone menu learned."""

    followup: FollowUp
    need: str | None
    language: str


def queue_callbacks(session: Session, limit: int = 50) -> list[QueueCallback]:
    """Open callbacks booked from the queue, in the order they will be delivered (by when the
    caller started holding)."""
    rows = session.execute(
        select(FollowUp, Call.need, Call.language)
        .outerjoin(Call, Call.id == FollowUp.call_id)
        .where(FollowUp.source == QUEUE_CALLBACK, FollowUp.state.in_(OPEN_STATES))
        .order_by(FollowUp.queued_since.is_(None), FollowUp.queued_since, FollowUp.id)
        .limit(limit))
    return [QueueCallback(followup, need, language or followup.language)
            for followup, need, language in rows]
