"""The floor between counselors and supervisors: a raised hand, and a status set for someone.

A counselor raises their hand to ask a supervisor for help; it stays up on the wallboard until
they lower it or a supervisor acknowledges it. A supervisor sets a counselor's status with the
counselor's own rules (:func:`helpline.records.contacts.set_status`: mid-call it applies once
the record is closed), audited as the supervisor's act. Every change here is audited.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from helpline import audit
from helpline.calls.routing import CALL_TAKERS
from helpline.db import utcnow
from helpline.models import AgentStatus, User
from helpline.records import contacts

# What a supervisor may set for a counselor; On a call and Wrap-up follow the call itself.
SETTABLE = contacts.CHOOSABLE


class FloorError(ValueError):
    """A request that cannot be carried out; the message says why."""


def raise_hand(session: Session, user: User, now: dt.datetime | None = None) -> bool:
    """Raise ``user``'s hand; False if it was already up (its time is kept)."""
    if user.hand_raised_at is not None:
        return False
    user.hand_raised_at = now or utcnow()
    audit.record(session, "agent.hand_raise", actor=user, record_type="user", record_id=user.id)
    return True


def lower_hand(session: Session, user: User, by: User | None = None) -> bool:
    """Lower ``user``'s hand: by themselves, or acknowledged by the supervisor ``by``.
    False if it was already down (another supervisor came first)."""
    if user.hand_raised_at is None:
        return False
    waited = max(0, int((utcnow() - user.hand_raised_at).total_seconds()))
    user.hand_raised_at = None
    if by is None or by.id == user.id:
        audit.record(session, "agent.hand_lower", actor=user, record_type="user",
                     record_id=user.id)
    else:
        audit.record(session, "agent.hand_acknowledge", actor=by, record_type="user",
                     record_id=user.id, detail={"waited_seconds": waited})
    return True


def set_status_for(session: Session, counselor: User, status: str, by: User,
                   now: dt.datetime | None = None) -> bool:
    """A supervisor sets ``counselor``'s status (Available, Away or Offline).

    Returns True when it waits for the end of the call (the counselor is On a call or in
    Wrap-up: it applies when the record is closed, as their own choice would).
    """
    if status not in SETTABLE:
        raise FloorError("choose Available, Away or Offline")
    if counselor.role not in CALL_TAKERS or not counselor.active:
        raise FloorError("only an active counselor or supervisor takes calls")
    after_call = counselor.status in (AgentStatus.ON_CALL, AgentStatus.WRAP_UP)
    contacts.set_status(session, counselor, status, now, by=by)
    return after_call
