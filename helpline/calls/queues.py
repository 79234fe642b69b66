"""Who is waiting and who can take them: queue snapshots and handing a caller to a counselor.

Queue state lives on the Call: ``status == "queued"`` while the caller holds in Twilio's queue
``queue_name`` (``<group>-<language>``, e.g. ``general-es``), ``"in-progress"`` once answered.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, exists, func, select
from sqlalchemy.orm import Session

from helpline.callbacks import webhook_url
from helpline.calls import control
from helpline.config import Settings
from helpline.db import utcnow
from helpline.models import AgentStatus, Call, CallEvent, Offer, OfferState, User
from helpline.telephony import Telephony

SIGNED_IN = (AgentStatus.AVAILABLE, AgentStatus.ON_CALL, AgentStatus.WRAP_UP)


@dataclass(frozen=True)
class QueueStatus:
    name: str
    need: str
    language: str
    waiting: int
    longest_wait_seconds: int
    crisis: bool


def split_queue_name(name: str) -> tuple[str, str]:
    group, _, language = name.rpartition("-")
    return (group or name), (language or "en")


def queue_snapshot(session: Session, now: dt.datetime | None = None) -> list[QueueStatus]:
    """Every queue with someone waiting: how many, and the longest wait (crisis first)."""
    now = now or utcnow()
    rows = session.execute(
        select(Call.queue_name, func.count(Call.id), func.min(Call.enqueued_at))
        .where(Call.status == "queued", Call.queue_name.is_not(None))
        .group_by(Call.queue_name)).all()
    result = []
    for name, waiting, oldest in rows:
        if name is None:  # the query has already left these out
            continue
        group, language = split_queue_name(name)
        longest = max(0, int((now - oldest).total_seconds())) if oldest else 0
        result.append(QueueStatus(name, group, language, waiting, longest, group == "crisis"))
    return sorted(result, key=lambda q: (not q.crisis, -q.longest_wait_seconds, q.name))


@dataclass(frozen=True)
class QueuePlace:
    position: int  # 1 for the head of the queue
    size: int
    average_seconds: int  # how long the callers now waiting have held, on average


def queue_place(session: Session, call: Call, now: dt.datetime | None = None) -> QueuePlace:
    """Where a waiting caller stands in their queue (first in, first out, as Twilio's)."""
    now = now or utcnow()
    waiting = session.execute(
        select(Call.id, Call.enqueued_at)
        .where(Call.status == "queued", Call.queue_name == call.queue_name,
               Call.counselor_id.is_(None))
        .order_by(Call.enqueued_at, Call.id)).all()
    ids = [row.id for row in waiting]
    position = ids.index(call.id) + 1 if call.id in ids else len(ids) + 1
    held = [max(0, int((now - at).total_seconds())) for _, at in waiting if at is not None]
    return QueuePlace(position, max(len(ids), position), sum(held) // len(held) if held else 0)


def available_counselors(session: Session, language: str) -> list[User]:
    """Counselors ready for a call in ``language``, longest available first."""
    users = session.scalars(select(User).where(User.active.is_(True),
                                               User.status == AgentStatus.AVAILABLE)
                            .order_by(User.status_since, User.id))
    return [u for u in users if language in u.language_list]


# Asked by the IVR before each caller is queued: only the languages column (a whole User would
# decrypt its phone number and second-factor secret), in a statement built once, on the table
# rather than the entity so that a plain connection runs it without the ORM.
_USERS = User.__table__.c
_SIGNED_IN_LANGUAGES = select(_USERS.languages).where(_USERS.active.is_(True),
                                                      _USERS.status.in_(SIGNED_IN))


def signed_in_languages(db: Session | Connection) -> set[str]:
    """The languages of the counselors signed in (available, on a call or wrapping up)."""
    return {language for languages in db.scalars(_SIGNED_IN_LANGUAGES)
            for language in languages.split()}


def counselor_leg_url(settings: Settings, queue_name: str, language: str) -> str:
    """The TwiML address of a counselor's leg: <Dial><Queue> on the caller's queue."""
    return webhook_url(settings, "counselor/connect", queue=queue_name, lang=language)


def take_next_call(session: Session, counselor: User, telephony: Telephony, settings: Settings,
                   now: dt.datetime | None = None) -> Call | None:
    """Give ``counselor`` the highest-priority, longest-waiting caller in their languages.

    Assigns the call, marks the counselor on a call, records the event and places the
    counselor's leg (their phone, or their browser client) whose TwiML dequeues the caller.
    Returns None when nobody they can help is waiting.
    """
    now = now or utcnow()
    languages = counselor.language_list
    if not languages:
        return None
    # Not a caller ringing for someone else: routing offered them first.
    ringing = exists().where(Offer.call_id == Call.id, Offer.state == OfferState.RINGING)
    query = (select(Call).where(Call.status == "queued", Call.counselor_id.is_(None),
                                Call.language.in_(languages), Call.queue_name.is_not(None),
                                ~ringing)
             .order_by(Call.priority.desc(), Call.enqueued_at, Call.id).limit(1))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    call = session.scalar(query)
    if call is None:
        return None
    call.counselor_id = counselor.id
    call.answered_at = now
    if call.enqueued_at is not None:
        call.wait_seconds = max(0, int((now - call.enqueued_at).total_seconds()))
    call.status = "in-progress"
    counselor.status_before_call = counselor.status
    counselor.status_reason = None
    counselor.status = AgentStatus.ON_CALL
    counselor.status_since = now
    session.add(CallEvent(call=call, at=now, kind="assigned",
                          detail={"counselor_id": counselor.id, "queue": call.queue_name}))
    # Their phone or their browser, as every counselor leg (helpline.softphone decides),
    # bridged as every answered call is (helpline.calls.control).
    control.connect_counselor(session, telephony, settings, call, counselor)
    session.flush()
    return call
