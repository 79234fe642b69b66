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

A contact waiting is a caller holding, or a callback a caller booked from the queue (a
:class:`Waiting` of kind :data:`CALLBACK`, keyed by its follow-up): it keeps the caller's place
(the moment they started holding) and their queue's priority and skill. Whether a callback may
ring now (consent, quiet and safe hours, retries) is the follow-up code's to say
(helpline.followups.delivery); accepting one claims it exactly once for that counselor and
delivers it as a bridged callback (the counselor's leg first, then the caller), by the same
claim, intent and outbox steps as the scheduler's.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    exists,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import QueryableAttribute, Session

from helpline import audit
from helpline.calls import control
from helpline.config import Settings
from helpline.db import affected_rows, utcnow
from helpline.followups import delivery
from helpline.followups.on_record import QUEUE_CALLBACK
from helpline.models import AgentStatus, Call, CallEvent, Offer, OfferState, User
from helpline.models.followups import (
    DUE_STATES,
    FollowUp,
    FollowUpKind,
    FollowUpState,
)
from helpline.staff.roles import Action, roles_for
from helpline.telephony import Telephony

# A counselor who declined a contact, or let it ring out, is not offered the same contact
# again for this long: the next counselor gets their turn first.
REOFFER_AFTER = dt.timedelta(seconds=60)
MISSED_OFFER = "missed_offer"
# The kinds of contact waiting.
CALL = "call"
CALLBACK = "callback"


@dataclass(frozen=True)
class Waiting:
    """A contact waiting for a counselor."""

    key: int                 # its id within its kind: the call's, or the callback's follow-up's
    group: str               # the queue's need group, e.g. "crisis"
    language: str
    priority: int            # higher first (crisis)
    since: dt.datetime       # entered the queue
    passed_over_by: frozenset[int] = field(default_factory=frozenset)
    kind: str = CALL         # CALL or CALLBACK

    @property
    def ident(self) -> tuple[str, int]:
        """The contact, unique across kinds."""
        return (self.kind, self.key)


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
    for contact in sorted(waiting, key=lambda w: (-w.priority, w.since, w.ident)):
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
    # Queue callbacks: (follow-up id, counselor id).
    offered_callbacks: list[tuple[int, int]] = field(default_factory=list)
    missed_callbacks: list[tuple[int, int]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.offered or self.missed or self.withdrawn or self.offered_callbacks
                    or self.missed_callbacks)


_RINGING = Offer.state == OfferState.RINGING
WAITING = and_(Call.status == "queued", Call.counselor_id.is_(None),
                Call.queue_name.is_not(None))


def route(session: Session, settings: Settings, now: dt.datetime | None = None) -> Pass:
    """One routing pass; the caller commits (and then tells the streams, see the router)."""
    fresh = now is None
    now = now or utcnow()
    done = Pass()
    _ring_out(session, now, done)
    if fresh:
        # The first write waited for the database's writer (SQLite: other processes'
        # passes, accepts, webhooks): what the pass reads and rings from here on is as of
        # now, so each offer starts when it is made and rings its whole time.
        now = utcnow()
    _ring_out_callbacks(session, now, done)
    _withdraw(session, now, done)
    _withdraw_callbacks(session, now, done)
    for contact, counselor in planned(session, settings, now):
        if contact.kind == CALLBACK:
            if _ring_callback(session, contact.key, counselor.id, now,
                              settings.ring_timeout_seconds):
                done.offered_callbacks.append((contact.key, counselor.id))
        elif _ring(session, contact.key, counselor.id, now, settings.ring_timeout_seconds):
            done.offered.append((contact.key, counselor.id))
    return done


def planned(session: Session, settings: Settings,
            now: dt.datetime) -> list[tuple[Waiting, Free]]:
    """What :func:`plan` decides from the database as it is now (reads only)."""
    free = _free(session)
    if not free:
        return []
    waiting = _waiting(session, now) + _waiting_callbacks(session, settings, now)
    return plan(waiting, free, settings.queue_skills) if waiting else []


def _ring_out(session: Session, now: dt.datetime, done: Pass) -> None:
    """Offers that rang the whole ring time: missed; their counselor becomes Away, told why."""
    rows = session.execute(
        update(Offer).where(_RINGING, Offer.call_id.is_not(None), Offer.expires_at <= now)
        .values(state=OfferState.MISSED, ended_at=now)
        .returning(Offer.call_id, Offer.counselor_id)).all()
    for call_id, counselor_id in rows:
        assert call_id is not None  # calls' offers only
        done.missed.append((call_id, counselor_id))
        # Only an Available counselor: one who went Offline meanwhile stays Offline.
        session.execute(
            update(User).where(User.id == counselor_id, User.status == AgentStatus.AVAILABLE)
            .values(status=AgentStatus.AWAY, status_since=now, status_reason=MISSED_OFFER))
        session.add(CallEvent(call_id=call_id, at=now, kind="offer_missed",
                              detail={"counselor_id": counselor_id}))


def _withdraw(session: Session, now: dt.datetime, done: Pass) -> None:
    """Ringing offers whose caller left the queue, or whose counselor is no longer Available."""
    gone = Offer.call_id.is_not(None) & ~exists().where(Call.id == Offer.call_id, WAITING)
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
        if call_id is not None:
            passed.setdefault(call_id, set()).add(counselor_id)
    return [Waiting(row.id, split_group(row.queue_name), row.language, row.priority,
                    row.enqueued_at or row.started_at, frozenset(passed.get(row.id, ())))
            for row in rows]


def _free(session: Session) -> list[Free]:
    rows = session.execute(
        select(User.id, User.languages, User.skills, User.status_since)
        .where(User.active.is_(True), User.status == AgentStatus.AVAILABLE,
               User.role.in_(CALL_TAKERS),
               ~exists().where(Offer.counselor_id == User.id, _RINGING),
               ~on_a_callback(User.id))).all()
    return [Free(row.id, frozenset(row.languages.split()), frozenset(row.skills.split()),
                 row.status_since) for row in rows]


# Whoever may take calls (helpline.staff.roles declares it once): nobody else is offered one.
CALL_TAKERS = tuple(sorted(roles_for(Action.TAKE_CALLS)))


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
    call_id: int | None      # a callback's: the call it was booked on, if any
    queue_name: str
    group: str
    language: str
    waited_seconds: int      # since the caller started holding
    rings_seconds_left: int
    kind: str = CALL
    followup_id: int | None = None
    booked_seconds: int | None = None  # a callback: how long ago the caller booked it


def ringing_for(session: Session, counselor_id: int,
                now: dt.datetime | None = None) -> Ringing | None:
    now = now or utcnow()
    row = session.execute(
        select(Offer.id, Offer.call_id, Offer.expires_at, Call.queue_name, Call.language,
               Call.enqueued_at, Call.started_at)
        .join(Call, Call.id == Offer.call_id)
        .where(Offer.counselor_id == counselor_id, _RINGING)).first()
    if row is None:
        return _callback_ringing_for(session, counselor_id, now)
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
    if offer.followup_id is not None:
        raise OfferGone(_CALLBACK_GONE.get(offer.state,
                                           "That callback is no longer offered to you."))
    raise OfferGone(_GONE.get(offer.state, "That call is no longer offered to you."))


def accept_offer(session: Session, offer_id: int, counselor: User, telephony: Telephony,
                 settings: Settings, now: dt.datetime | None = None) -> Call | FollowUp:
    """The counselor takes the call: assigned to them in one conditional statement, their
    status On a call (the one they had is kept to return to), and their leg placed. A queue
    callback's offer is delivered to them instead (:func:`_accept_callback`: committed)."""
    now = now or utcnow()
    offer = _end_offer(session, offer_id, counselor, OfferState.ACCEPTED, now)
    if offer.followup_id is not None:
        return _accept_callback(session, offer, counselor, telephony, settings, now)
    call = session.get(Call, offer.call_id)
    assert call is not None
    result = session.execute(
        update(Call).where(Call.id == call.id, WAITING)
        .values(counselor_id=counselor.id, answered_at=now, status="in-progress",
                wait_seconds=_seconds(call.enqueued_at, now)))
    if affected_rows(result) != 1:
        # The caller left, or was taken another way, before a pass withdrew the offer: it
        # ends withdrawn, not accepted (the dashboard commits what a refused accept found).
        session.execute(update(Offer).where(Offer.id == offer.id)
                        .values(state=OfferState.WITHDRAWN))
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
    control.connect_counselor(session, telephony, settings, call, counselor)
    notify_offers(session)
    session.flush()
    return call


def decline_offer(session: Session, offer_id: int, counselor: User,
                  now: dt.datetime | None = None) -> None:
    """The counselor passes: the contact goes to the next eligible counselor."""
    now = now or utcnow()
    offer = _end_offer(session, offer_id, counselor, OfferState.DECLINED, now)
    if offer.followup_id is not None:
        _declined_callback(session, offer, counselor, now)
        return
    session.add(CallEvent(call_id=offer.call_id, at=now, kind="offer_declined",
                          detail={"counselor_id": counselor.id}))
    audit.record(session, "offer.decline", actor=counselor, record_type="call",
                 record_id=offer.call_id)
    notify_offers(session)


def _seconds(start: dt.datetime | None, end: dt.datetime) -> int | None:
    return None if start is None else max(0, int((end - start).total_seconds()))


# --- callbacks booked from the queue, as contacts waiting ----------------------------------

_CALLBACK_GONE: dict[str, str] = {
    OfferState.MISSED: "That callback rang out and went to the next counselor.",
    OfferState.WITHDRAWN: "That callback is no longer waiting: it was stopped, moved to a "
                          "later time or taken another way.",
    OfferState.ACCEPTED: "You already accepted that callback.",
    OfferState.DECLINED: "You declined that callback.",
}


def _callback_due(now: dt.datetime) -> ColumnElement[bool]:
    """A callback booked from the queue, assigned to nobody, that is due: the follow-up code
    decides when (its retries, quiet and safe hours move ``due_at``; a stop or a claim moves
    its state). One a supervisor assigned rings its assignee (the scheduler's)."""
    return and_(FollowUp.source == QUEUE_CALLBACK, FollowUp.assigned_to_id.is_(None),
                FollowUp.kind == FollowUpKind.BRIDGED_CALLBACK,
                FollowUp.state.in_(DUE_STATES), FollowUp.due_at <= now)


def on_a_callback(user_id: QueryableAttribute[int] | int) -> ColumnElement[bool]:
    """The counselor's phone rings for, or is bridged to, a callback right now (as the
    scheduler's delivery sees it: helpline.followups.delivery)."""
    return exists().where(FollowUp.bridged_to_id == user_id,
                          FollowUp.state.in_((FollowUpState.SENDING,
                                              FollowUpState.AWAITING_RESULT)))


def callbacks_waiting(session: Session, now: dt.datetime) -> bool:
    """Is a queue callback due with nothing ringing for it (reads only, for the router)?"""
    return session.scalar(
        select(FollowUp.id).where(_callback_due(now),
                                  ~exists().where(Offer.followup_id == FollowUp.id, _RINGING))
        .limit(1)) is not None


def callback_offer_gone(now: dt.datetime) -> ColumnElement[bool]:
    """A ringing offer of a callback that is no longer due (for the router's reads)."""
    return and_(Offer.followup_id.is_not(None),
                ~exists().where(FollowUp.id == Offer.followup_id, _callback_due(now)))


def _waiting_callbacks(session: Session, settings: Settings, now: dt.datetime) -> list[Waiting]:
    """Due queue callbacks that may ring now, in the place the caller held, with the priority
    and the group of the queue they held in."""
    rows = session.execute(
        select(FollowUp, Call.queue_name, Call.priority)
        .outerjoin(Call, Call.id == FollowUp.call_id)
        .where(_callback_due(now), ~exists().where(Offer.followup_id == FollowUp.id, _RINGING))
        .order_by(FollowUp.queued_since, FollowUp.id)).all()
    if not rows:
        return []
    # Held back (consent, channel, hours): the scheduler's run stops or defers it.
    ready = [(followup, queue_name, priority) for followup, queue_name, priority in rows
             if delivery.held_back(session, followup, settings, now) is None]
    passed: dict[int, set[int]] = {}
    for followup_id, counselor_id in session.execute(
            select(Offer.followup_id, Offer.counselor_id)
            .where(Offer.followup_id.in_([f.id for f, _, _ in ready]),
                   Offer.state.in_((OfferState.DECLINED, OfferState.MISSED)),
                   Offer.ended_at > now - REOFFER_AFTER)):
        if followup_id is not None:
            passed.setdefault(followup_id, set()).add(counselor_id)
    return [Waiting(followup.id, split_group(queue_name), followup.language, priority or 0,
                    followup.queued_since or followup.created_at,
                    frozenset(passed.get(followup.id, ())), kind=CALLBACK)
            for followup, queue_name, priority in ready]


def _ring_callback(session: Session, followup_id: int, counselor_id: int, now: dt.datetime,
                   ring_seconds: int) -> bool:
    """Ring a callback's offer if it is still due and the counselor still free (one statement,
    as :func:`_ring`)."""
    expires = now + dt.timedelta(seconds=ring_seconds)
    source = select(literal(followup_id), literal(counselor_id),
                    literal(str(OfferState.RINGING)), literal(now, _MOMENT),
                    literal(expires, _MOMENT)).where(
        exists().where(FollowUp.id == followup_id, _callback_due(now)),
        exists().where(User.id == counselor_id, User.status == AgentStatus.AVAILABLE,
                       User.active.is_(True)),
        ~on_a_callback(counselor_id))
    columns = ["followup_id", "counselor_id", "state", "offered_at", "expires_at"]
    statement = _insert(session).from_select(columns, source)
    # The partial unique indexes refuse a second ringing offer of the callback or counselor.
    row = session.execute(statement.on_conflict_do_nothing().returning(Offer.id)).first()
    if row is None:
        return False
    _callback_event(session, followup_id, now, "callback_offered",
                    {"counselor_id": counselor_id, "offer_id": row.id})
    return True


def _ring_out_callbacks(session: Session, now: dt.datetime, done: Pass) -> None:
    """Callback offers that rang the whole ring time: as a call's (:func:`_ring_out`)."""
    rows = session.execute(
        update(Offer).where(_RINGING, Offer.followup_id.is_not(None), Offer.expires_at <= now)
        .values(state=OfferState.MISSED, ended_at=now)
        .returning(Offer.id, Offer.followup_id, Offer.counselor_id)).all()
    for offer_id, followup_id, counselor_id in rows:
        assert followup_id is not None
        done.missed_callbacks.append((followup_id, counselor_id))
        session.execute(
            update(User).where(User.id == counselor_id, User.status == AgentStatus.AVAILABLE)
            .values(status=AgentStatus.AWAY, status_since=now, status_reason=MISSED_OFFER))
        _callback_event(session, followup_id, now, "callback_offer_missed",
                        {"counselor_id": counselor_id, "offer_id": offer_id})


def _withdraw_callbacks(session: Session, now: dt.datetime, done: Pass) -> None:
    """Ringing offers of callbacks no longer due: stopped, cancelled, deferred or claimed
    another way. (An offer whose counselor left is withdrawn by :func:`_withdraw`.)"""
    result = session.execute(update(Offer).where(_RINGING, callback_offer_gone(now))
                             .values(state=OfferState.WITHDRAWN, ended_at=now))
    done.withdrawn += affected_rows(result)


def _callback_event(session: Session, followup_id: int, now: dt.datetime, kind: str,
                    detail: dict[str, object]) -> None:
    """On the call the callback was booked on, if any: its history shows the offers."""
    call_id = session.scalar(select(FollowUp.call_id).where(FollowUp.id == followup_id))
    if call_id is not None:
        session.add(CallEvent(call_id=call_id, at=now, kind=kind,
                              detail={"followup_id": followup_id, **detail}))


def _callback_ringing_for(session: Session, counselor_id: int,
                          now: dt.datetime) -> Ringing | None:
    row = session.execute(
        select(Offer.id, Offer.expires_at, FollowUp.id.label("followup_id"), FollowUp.call_id,
               FollowUp.language, FollowUp.queued_since, FollowUp.created_at, Call.queue_name)
        .join(FollowUp, FollowUp.id == Offer.followup_id)
        .outerjoin(Call, Call.id == FollowUp.call_id)
        .where(Offer.counselor_id == counselor_id, _RINGING)).first()
    if row is None:
        return None
    since = row.queued_since or row.created_at
    return Ringing(row.id, row.call_id, row.queue_name or "", split_group(row.queue_name),
                   row.language, max(0, int((now - since).total_seconds())),
                   max(0, int((row.expires_at - now).total_seconds())), kind=CALLBACK,
                   followup_id=row.followup_id,
                   booked_seconds=max(0, int((now - row.created_at).total_seconds())))


def _accept_callback(session: Session, offer: Offer, counselor: User, telephony: Telephony,
                     settings: Settings, now: dt.datetime) -> FollowUp:
    """Deliver the callback to the counselor who accepted its offer: claimed for them exactly
    once (a racing accept or scheduler run finds it claimed), committed, then their leg is
    placed and recorded as a delivery run would (so a crash in between is settled by the
    scheduler's next run). Refused (OfferGone, with the offer withdrawn) when it was claimed
    another way, or may not ring now (stopped or deferred by the follow-up rules)."""
    followup_id = offer.followup_id
    assert followup_id is not None
    report = delivery.DeliveryReport()
    if not delivery.claim_for_counselor(session, followup_id, counselor.id, settings, now,
                                        report):
        session.execute(update(Offer).where(Offer.id == offer.id)
                        .values(state=OfferState.WITHDRAWN, ended_at=now))
        notify_offers(session)
        raise OfferGone(
            "That callback was stopped: the caller's consent or wishes no longer allow it."
            if report.stopped else
            "That callback must wait: it is outside the hours the caller may be called."
            if report.deferred else "That callback is already being made by someone else.")
    ring = int((now - offer.offered_at).total_seconds())
    _callback_event(session, followup_id, now, "callback_accepted",
                    {"counselor_id": counselor.id, "offer_id": offer.id,
                     "ring_seconds": max(0, ring)})
    audit.record(session, "offer.accept", actor=counselor, record_type="followup",
                 record_id=followup_id)
    notify_offers(session)
    # The claim is committed before the provider is called, as the scheduler's is.
    session.commit()
    bind = session.get_bind()
    sent = delivery.send_claimed(lambda: Session(bind=bind, expire_on_commit=False),
                                 [followup_id], telephony, settings, now)
    followup = session.get(FollowUp, followup_id, populate_existing=True)
    assert followup is not None
    if followup_id not in sent.delivered:
        raise OfferGone("Your phone could not be rung for that callback; it will be offered "
                        "again.")
    return followup


def _declined_callback(session: Session, offer: Offer, counselor: User,
                       now: dt.datetime) -> None:
    assert offer.followup_id is not None
    _callback_event(session, offer.followup_id, now, "callback_offer_declined",
                    {"counselor_id": counselor.id, "offer_id": offer.id})
    audit.record(session, "offer.decline", actor=counselor, record_type="followup",
                 record_id=offer.followup_id)
    notify_offers(session)


@functools.cache
def pass_gate() -> Select[bool, bool]:
    """One cheap read, built once: (is a ringing offer to be ended, might anyone be offered a
    contact), with the parameter ``now``. The second is a necessary condition only (someone
    free, someone waiting); :func:`planned` decides eligibility. The router asks it before
    every pass: most passes at a busy hour find every counselor busy."""
    now = bindparam("now", type_=_MOMENT)
    ringing = Offer.state == OfferState.RINGING
    to_end = exists().where(ringing, or_(
        Offer.expires_at <= now,
        Offer.call_id.is_not(None) & ~exists().where(Call.id == Offer.call_id, WAITING),
        callback_offer_gone(now),  # type: ignore[arg-type]
        ~exists().where(User.id == Offer.counselor_id, User.status == AgentStatus.AVAILABLE,
                        User.active.is_(True))))
    free = exists().where(User.active.is_(True), User.status == AgentStatus.AVAILABLE,
                          User.role.in_(CALL_TAKERS),
                          ~exists().where(Offer.counselor_id == User.id, _RINGING),
                          ~on_a_callback(User.id))
    waiting = or_(
        exists().where(WAITING, ~exists().where(Offer.call_id == Call.id, _RINGING)),
        exists().where(_callback_due(now),  # type: ignore[arg-type]
                       ~exists().where(Offer.followup_id == FollowUp.id, _RINGING)))
    return select(to_end, and_(free, waiting))

