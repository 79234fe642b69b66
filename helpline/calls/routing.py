"""Routing: each contact waiting is offered to one eligible counselor at a time.

The decision is one pure function, :func:`plan`, over plain data: contacts waiting (a call
today; a text or a chat would be the same shape) and counselors free to take one. Eligible
means Available, speaking the contact's language and holding the skill its queue asks for
(``Settings.queue_skills``). Contacts go in order (highest priority, so crisis, first; then the
longest waiting), each to the eligible counselor idle the longest.

:func:`route` is one routing pass against the database: it ends the offers that rang out
(their counselor becomes Away, and is told why) or whose caller left, asks :func:`plan`, and
rings the offers it made. Every change is one conditional statement, and two partial unique
indexes (helpline.models.routing) keep one ringing offer per contact and per counselor, so
passes racing in several processes may waste work but never double-offer. Accepting and
declining (:func:`accept_offer`, :func:`decline_offer`) are conditional updates too: an offer
that rang out cannot then be accepted, and one accepted cannot then ring out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import and_, exists, literal, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from helpline import audit
from helpline.callbacks import webhook_url
from helpline.config import Settings
from helpline.db import affected_rows, utcnow
from helpline.models import AgentStatus, Call, CallEvent, Offer, OfferState, Role, User
from helpline.staff.softphone import ring_destination
from helpline.telephony import Telephony

# A counselor who declined a contact, or let it ring out, is not offered the same contact
# again for this long: the next counselor gets their turn first.
REOFFER_AFTER = dt.timedelta(seconds=60)
MISSED_OFFER = "missed_offer"


@dataclass(frozen=True)
class Waiting:
    """A contact waiting for a counselor."""

    key: int                 # the call's id
    group: str               # the queue's need group, e.g. "crisis"
    language: str
    priority: int            # higher first (crisis)
    since: dt.datetime       # entered the queue
    passed_over_by: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Free:
    """A counselor free to be offered a contact: Available, nothing ringing."""

    id: int
    languages: frozenset[str]
    skills: frozenset[str]
    idle_since: dt.datetime


def eligible(contact: Waiting, counselor: Free, queue_skills: Mapping[str, str]) -> bool:
    skill = queue_skills.get(contact.group)
    return (contact.language in counselor.languages
            and (skill is None or skill in counselor.skills)
            and counselor.id not in contact.passed_over_by)


def plan(waiting: Iterable[Waiting], free: Iterable[Free],
         queue_skills: Mapping[str, str]) -> list[tuple[Waiting, Free]]:
    """Which counselor each contact is offered to now (contacts nobody can take are left)."""
    counselors = sorted(free, key=lambda c: (c.idle_since, c.id))
    offers = []
    for contact in sorted(waiting, key=lambda w: (-w.priority, w.since, w.key)):
        for counselor in counselors:
            if eligible(contact, counselor, queue_skills):
                offers.append((contact, counselor))
                counselors.remove(counselor)
                break
        if not counselors:
            break
    return offers


# --- one routing pass against the database --------------------------------------------------

@dataclass
class Pass:
    """What one routing pass did."""

    offered: list[tuple[int, int]] = field(default_factory=list)   # (call id, counselor id)
    missed: list[tuple[int, int]] = field(default_factory=list)    # (call id, counselor id)
    withdrawn: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.offered or self.missed or self.withdrawn)


_RINGING = Offer.state == OfferState.RINGING
WAITING = and_(Call.status == "queued", Call.counselor_id.is_(None),
                Call.queue_name.is_not(None))


def route(session: Session, settings: Settings, now: dt.datetime | None = None) -> Pass:
    """One routing pass; the caller commits (and then tells the streams, see the router)."""
    now = now or utcnow()
    done = Pass()
    _ring_out(session, now, done)
    _withdraw(session, now, done)
    waiting = _waiting(session, now)
    if waiting:
        free = _free(session)
        for contact, counselor in plan(waiting, free, settings.queue_skills):
            if _ring(session, contact.key, counselor.id, now, settings.ring_timeout_seconds):
                done.offered.append((contact.key, counselor.id))
    return done


def _ring_out(session: Session, now: dt.datetime, done: Pass) -> None:
    """Offers that rang the whole ring time: missed; their counselor becomes Away, told why."""
    rows = session.execute(
        update(Offer).where(_RINGING, Offer.expires_at <= now)
        .values(state=OfferState.MISSED, ended_at=now)
        .returning(Offer.call_id, Offer.counselor_id)).all()
    for call_id, counselor_id in rows:
        done.missed.append((call_id, counselor_id))
        # Only an Available counselor: one who went Offline meanwhile stays Offline.
        session.execute(
            update(User).where(User.id == counselor_id, User.status == AgentStatus.AVAILABLE)
            .values(status=AgentStatus.AWAY, status_since=now, status_reason=MISSED_OFFER))
        session.add(CallEvent(call_id=call_id, at=now, kind="offer_missed",
                              detail={"counselor_id": counselor_id}))


def _withdraw(session: Session, now: dt.datetime, done: Pass) -> None:
    """Ringing offers whose caller left the queue, or whose counselor is no longer Available."""
    gone = ~exists().where(Call.id == Offer.call_id, WAITING)
    unavailable = ~exists().where(User.id == Offer.counselor_id,
                                  User.status == AgentStatus.AVAILABLE, User.active.is_(True))
    result = session.execute(update(Offer).where(_RINGING, gone | unavailable)
                             .values(state=OfferState.WITHDRAWN, ended_at=now))
    done.withdrawn += affected_rows(result)


def _waiting(session: Session, now: dt.datetime) -> list[Waiting]:
    rows = session.execute(
        select(Call.id, Call.queue_name, Call.language, Call.priority, Call.enqueued_at,
               Call.started_at)
        .where(WAITING, ~exists().where(Offer.call_id == Call.id, _RINGING))).all()
    if not rows:
        return []
    passed: dict[int, set[int]] = {}
    for call_id, counselor_id in session.execute(
            select(Offer.call_id, Offer.counselor_id)
            .where(Offer.call_id.in_([row.id for row in rows]),
                   Offer.state.in_((OfferState.DECLINED, OfferState.MISSED)),
                   Offer.ended_at > now - REOFFER_AFTER)):
        passed.setdefault(call_id, set()).add(counselor_id)
    return [Waiting(row.id, split_group(row.queue_name), row.language, row.priority,
                    row.enqueued_at or row.started_at, frozenset(passed.get(row.id, ())))
            for row in rows]


def _free(session: Session) -> list[Free]:
    rows = session.execute(
        select(User.id, User.languages, User.skills, User.status_since)
        .where(User.active.is_(True), User.status == AgentStatus.AVAILABLE,
               User.role.in_(CALL_TAKERS),
               ~exists().where(Offer.counselor_id == User.id, _RINGING))).all()
    return [Free(row.id, frozenset(row.languages.split()), frozenset(row.skills.split()),
                 row.status_since) for row in rows]


CALL_TAKERS = (Role.COUNSELOR, Role.SUPERVISOR)


_MOMENT = Offer.__table__.c.offered_at.type


def _ring(session: Session, call_id: int, counselor_id: int, now: dt.datetime,
          ring_seconds: int) -> bool:
    """Ring the offer if the caller still waits and the counselor is still free, in one
    statement: a racing pass, or an accept elsewhere, comes either before it or after it."""
    expires = now + dt.timedelta(seconds=ring_seconds)
    source = select(literal(call_id), literal(counselor_id), literal(str(OfferState.RINGING)),
                    literal(now, _MOMENT), literal(expires, _MOMENT)).where(
        exists().where(Call.id == call_id, WAITING),
        exists().where(User.id == counselor_id, User.status == AgentStatus.AVAILABLE,
                       User.active.is_(True)))
    columns = ["call_id", "counselor_id", "state", "offered_at", "expires_at"]
    statement = _insert(session).from_select(columns, source)
    # The partial unique indexes refuse a second ringing offer of the call or the counselor.
    row = session.execute(statement.on_conflict_do_nothing().returning(Offer.id)).first()
    if row is None:
        return False
    session.add(CallEvent(call_id=call_id, at=now, kind="offered",
                          detail={"counselor_id": counselor_id, "offer_id": row.id}))
    return True


def _insert(session: Session) -> postgresql.Insert | sqlite.Insert:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(Offer)
    return sqlite.insert(Offer)


def split_group(queue_name: str | None) -> str:
    group, _, _language = (queue_name or "").rpartition("-")
    return group or (queue_name or "")


CHANNEL = "helpline_offers"


def notify_offers(session: Session) -> None:
    """Tell every process's live streams that offers changed, once this transaction commits
    (PostgreSQL's NOTIFY; on SQLite the streams' watcher polls)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


# --- the counselor's side -----------------------------------------------------------------

@dataclass(frozen=True)
class Ringing:
    """What a counselor's browser shows of the offer ringing for them."""

    offer_id: int
    call_id: int
    queue_name: str
    group: str
    language: str
    waited_seconds: int
    rings_seconds_left: int


def ringing_for(session: Session, counselor_id: int,
                now: dt.datetime | None = None) -> Ringing | None:
    now = now or utcnow()
    row = session.execute(
        select(Offer.id, Offer.call_id, Offer.expires_at, Call.queue_name, Call.language,
               Call.enqueued_at, Call.started_at)
        .join(Call, Call.id == Offer.call_id)
        .where(Offer.counselor_id == counselor_id, _RINGING)).first()
    if row is None:
        return None
    since = row.enqueued_at or row.started_at
    return Ringing(row.id, row.call_id, row.queue_name or "", split_group(row.queue_name),
                   row.language, max(0, int((now - since).total_seconds())),
                   max(0, int((row.expires_at - now).total_seconds())))


_GONE: dict[str, str] = {
    OfferState.MISSED: "That call rang out and went to the next counselor.",
    OfferState.WITHDRAWN: "The caller hung up or was answered by someone else.",
    OfferState.ACCEPTED: "You already accepted that call.",
    OfferState.DECLINED: "You declined that call.",
}


class OfferGone(Exception):
    """The offer is no longer ringing for this counselor; the message says what happened."""


def _end_offer(session: Session, offer_id: int, counselor: User, state: str,
               now: dt.datetime) -> Offer:
    result = session.execute(
        update(Offer).where(Offer.id == offer_id, Offer.counselor_id == counselor.id, _RINGING)
        .values(state=state, ended_at=now))
    offer = session.get(Offer, offer_id)
    if affected_rows(result) == 1 and offer is not None:
        return offer
    if offer is None or offer.counselor_id != counselor.id:
        raise OfferGone("That call is not offered to you.")
    session.refresh(offer)
    raise OfferGone(_GONE.get(offer.state, "That call is no longer offered to you."))


def accept_offer(session: Session, offer_id: int, counselor: User, telephony: Telephony,
                 settings: Settings, now: dt.datetime | None = None) -> Call:
    """The counselor takes the call: assigned to them in one conditional statement, their
    status On a call (the one they had is kept to return to), and their leg placed."""
    now = now or utcnow()
    offer = _end_offer(session, offer_id, counselor, OfferState.ACCEPTED, now)
    call = session.get(Call, offer.call_id)
    assert call is not None
    result = session.execute(
        update(Call).where(Call.id == call.id, WAITING)
        .values(counselor_id=counselor.id, answered_at=now, status="in-progress",
                wait_seconds=_seconds(call.enqueued_at, now)))
    if affected_rows(result) != 1:
        raise OfferGone("The caller hung up or was answered by someone else.")
    session.refresh(call)
    counselor.status_before_call = counselor.status
    counselor.status = AgentStatus.ON_CALL
    counselor.status_since = now
    counselor.status_reason = None
    ring = int((now - offer.offered_at).total_seconds())
    session.add(CallEvent(call_id=call.id, at=now, kind="assigned",
                          detail={"counselor_id": counselor.id, "queue": call.queue_name,
                                  "offer_id": offer.id, "ring_seconds": max(0, ring)}))
    telephony.place_call(session, ring_destination(counselor, settings),
                         webhook_url(settings, "counselor/connect", queue=call.queue_name or "",
                                     lang=call.language),
                         purpose="counselor_leg")
    notify_offers(session)
    session.flush()
    return call


def decline_offer(session: Session, offer_id: int, counselor: User,
                  now: dt.datetime | None = None) -> None:
    """The counselor passes: the contact goes to the next eligible counselor."""
    now = now or utcnow()
    offer = _end_offer(session, offer_id, counselor, OfferState.DECLINED, now)
    session.add(CallEvent(call_id=offer.call_id, at=now, kind="offer_declined",
                          detail={"counselor_id": counselor.id}))
    audit.record(session, "offer.decline", actor=counselor, record_type="call",
                 record_id=offer.call_id)
    notify_offers(session)


def _seconds(start: dt.datetime | None, end: dt.datetime) -> int | None:
    return None if start is None else max(0, int((end - start).total_seconds()))
