"""Live call control: the bridge, hold and resume, transfer, end call, and supervision.

With Twilio each answered call is bridged through a ``<Conference>`` named for the call
(:func:`room_for`), as Twilio Flex does: the counselor's leg is placed into the room and the
caller's queued call is moved there by REST (it hears hold music until the counselor enters).
A conference rather than ``<Dial><Queue>`` because ``<Dial><Queue>`` takes the *head* of
Twilio's queue, which need not be the caller routing gave this counselor, and because only a
conference can hold one party, add a colleague or a supervisor and let the first counselor
leave: the Conference Participants API (``Hold``, ``Muted``, ``Coaching``, ``CallSidToCoach``).

Without Twilio (outbox telephony) every participant operation is recorded in the outbox as it
would be sent, and the simulated caller learns what happened from :func:`heard_since`.

Every operation records a :class:`~helpline.models.CallEvent`; refusals raise
:class:`ControlRefused` with a sentence for the counselor. Plain functions: session, settings,
telephony and plain values; the caller commits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from helpline import audit, crypto
from helpline.callbacks import webhook_url
from helpline.calls import records
from helpline.config import Settings
from helpline.db import affected_rows, utcnow
from helpline.models import AgentStatus, Call, CallEvent, Contact, OutboxMessage, User
from helpline.records.contacts import open_contact_for_call
from helpline.staff.softphone import ring_destination
from helpline.telephony import Telephony

ROOM_PREFIX = "call-"
#: The events this module records, oldest meaning first (the call bar and the simulator
#: read them back).
HELD, RESUMED = "held", "resumed"
TRANSFER_STARTED, TRANSFERRED, TRANSFER_CANCELLED = (
    "transfer_started", "transferred", "transfer_cancelled")
REQUEUED, ENDED_BY_STAFF = "requeued", "ended_by_counselor"
SUPERVISION, SUPERVISOR_LEFT = "supervision", "supervisor_left"
CONTROL_EVENTS = (HELD, RESUMED, TRANSFER_STARTED, TRANSFERRED, TRANSFER_CANCELLED, REQUEUED,
                  ENDED_BY_STAFF, SUPERVISION, SUPERVISOR_LEFT)
SUPERVISION_MODES = ("listen", "coach", "barge")
#: Where a caller put back in a queue stands: ahead of every priority the IVR gives.
TOP_OF_QUEUE_PRIORITY = 100


class ControlRefused(Exception):
    """The operation cannot be done now; the message says why, for the counselor."""


def room_for(call: Call) -> str:
    """The conference that bridges ``call``: one room per call."""
    return f"{ROOM_PREFIX}{call.id}"


def room_url(settings: Settings, call: Call, role: str) -> str:
    """The TwiML that puts a leg with ``role`` into the call's room."""
    return webhook_url(settings, "conference/call", room=room_for(call), role=role,
                       lang=call.language)


def hold_music_url(settings: Settings, call: Call) -> str:
    return webhook_url(settings, "conference/hold", lang=call.language)


# --- the bridge ----------------------------------------------------------------------------

def connect_counselor(session: Session, telephony: Telephony, settings: Settings, call: Call,
                      counselor: User) -> OutboxMessage:
    """Place ``counselor``'s leg for an assigned ``call`` and bridge the caller.

    With Twilio: the leg joins the call's conference and the caller's queued call is moved
    into the same room (REST, from this dashboard action, never a webhook). Without: the leg's
    TwiML dequeues the caller (``<Dial><Queue>``), which the simulators play themselves.
    """
    destination = ring_destination(counselor, settings)
    if telephony.name != "twilio":
        return telephony.place_call(
            session, destination,
            webhook_url(settings, "counselor/connect", queue=call.queue_name or "",
                        lang=call.language), purpose="counselor_leg")
    leg = telephony.place_call(session, destination, room_url(settings, call, "counselor"),
                               purpose="counselor_leg")
    telephony.redirect_call(session, call.call_sid, call.call_sid,
                            room_url(settings, call, "caller"), purpose="caller_to_room")
    return leg


def _counselor_leg(session: Session, settings: Settings, user: User) -> str | None:
    """The CallSid of the leg last placed to ``user`` (their side of the room)."""
    destination = ring_destination(user, settings)
    for purpose in ("transfer_leg", "counselor_leg"):
        sid = session.scalar(select(OutboxMessage.provider_sid).where(
            OutboxMessage.purpose == purpose,
            OutboxMessage.to_hash == crypto.caller_hash(destination),
            OutboxMessage.provider_sid.is_not(None)).order_by(OutboxMessage.id.desc()).limit(1))
        if sid is not None:
            return sid
    return None


# --- state ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class BarState:
    """What the record's call bar shows."""

    state: str  # ringing, connected, on_hold, ended, none
    label: str
    answered_at: dt.datetime | None
    ended_at: dt.datetime | None
    transfer: dict[str, Any] | None = None  # a warm transfer waiting to be completed
    supervisors: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self, now: dt.datetime) -> dict[str, Any]:
        end = self.ended_at or now
        talk = (max(0, int((_aware(end) - _aware(self.answered_at)).total_seconds()))
                if self.answered_at else 0)
        return {"state": self.state, "label": self.label, "seconds": talk,
                "ended": self.state == "ended", "transfer": self.transfer,
                "supervisors": self.supervisors}


def _aware(at: dt.datetime | None) -> dt.datetime:
    assert at is not None
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def _events(session: Session, call: Call) -> list[CallEvent]:
    return list(session.scalars(select(CallEvent).where(
        CallEvent.call_id == call.id, CallEvent.kind.in_(CONTROL_EVENTS))
        .order_by(CallEvent.id)))


def _held(events: list[CallEvent]) -> bool:
    last = next((e.kind for e in reversed(events) if e.kind in (HELD, RESUMED)), None)
    return last == HELD


def _pending_transfer(events: list[CallEvent]) -> CallEvent | None:
    for event in reversed(events):
        if event.kind in (TRANSFERRED, TRANSFER_CANCELLED, REQUEUED):
            return None
        if event.kind == TRANSFER_STARTED:
            return event
    return None


def _supervisors(events: list[CallEvent]) -> dict[int, dict[str, Any]]:
    """Each supervisor on the call now: their mode and leg."""
    present: dict[int, dict[str, Any]] = {}
    for event in events:
        who = event.detail.get("supervisor_id")
        if event.kind == SUPERVISION and who is not None:
            present[int(who)] = dict(event.detail)
        elif event.kind == SUPERVISOR_LEFT and who is not None:
            present.pop(int(who), None)
    return present


def bar_state(session: Session, call: Call | None) -> BarState:
    """Where the call stands: ringing (the counselor's leg is connecting), connected, on
    hold, or ended (the caller's hang-up shows as soon as the status callback lands)."""
    if call is None:
        return BarState("none", "No phone call", None, None)
    if call.ended_at is not None or call.status in records.TERMINAL:
        return BarState("ended", "Call ended: finish the record to wrap up", call.answered_at,
                        call.ended_at or utcnow())
    if call.answered_at is None:
        return BarState("ringing", "Connecting the caller", None, None)
    events = _events(session, call)
    pending = _pending_transfer(events)
    transfer = None
    if pending is not None:
        transfer = {"to": pending.detail.get("to_name"), "warm": True}
    supervisors = [{"name": d.get("name"), "mode": d.get("mode")}
                   for d in _supervisors(events).values()]
    if _held(events):
        return BarState("on_hold", "Caller on hold", call.answered_at, None, transfer,
                        supervisors)
    return BarState("connected", "Connected", call.answered_at, None, transfer, supervisors)


# --- the counselor's controls --------------------------------------------------------------

def _live(call: Call) -> None:
    if call.ended_at is not None or call.status in records.TERMINAL:
        raise ControlRefused("the call has ended")
    if call.answered_at is None or call.counselor_id is None:
        raise ControlRefused("the caller is not connected yet")


def _own(call: Call, by: User) -> None:
    _live(call)
    if call.counselor_id != by.id:
        raise ControlRefused("this call is not yours")


def _event(session: Session, call: Call, kind: str, now: dt.datetime,
           **detail: Any) -> None:
    session.add(CallEvent(call_id=call.id, at=now, kind=kind, detail=detail))
    session.flush()


def _sent(message: OutboxMessage, what: str) -> None:
    if message.status == "failed":
        raise ControlRefused(f"{what} did not go through ({message.error or 'no answer'})")


def hold(session: Session, telephony: Telephony, settings: Settings, call: Call, by: User,
         now: dt.datetime | None = None) -> None:
    """Put the caller on hold: they hear hold music; the counselor hears nothing."""
    _own(call, by)
    if _held(_events(session, call)):
        raise ControlRefused("the caller is already on hold")
    _sent(telephony.update_participant(session, room_for(call), call.call_sid,
                                       purpose="hold", hold=True,
                                       hold_url=hold_music_url(settings, call)), "The hold")
    _event(session, call, HELD, now or utcnow(), by=by.id)


def resume(session: Session, telephony: Telephony, settings: Settings, call: Call, by: User,
           now: dt.datetime | None = None) -> None:
    """Take the caller off hold."""
    _own(call, by)
    if not _held(_events(session, call)):
        raise ControlRefused("the caller is not on hold")
    _sent(telephony.update_participant(session, room_for(call), call.call_sid,
                                       purpose="resume", hold=False), "Taking off hold")
    _event(session, call, RESUMED, now or utcnow(), by=by.id)


def end_call(session: Session, telephony: Telephony, settings: Settings, call: Call, by: User,
             now: dt.datetime | None = None) -> None:
    """Hang up on the caller; the call closes now and the counselor goes to wrap-up."""
    _own(call, by)
    now = now or utcnow()
    _sent(telephony.end_call(session, call.call_sid, call.call_sid, purpose="end_call"),
          "Ending the call")
    _event(session, call, ENDED_BY_STAFF, now, by=by.id)
    # Closed here, as the status callback would (which then changes nothing): the bar and the
    # counselor's wrap-up do not wait for Twilio.
    ledger = records.Ledger(session)
    records.record_status(session, call.call_sid, "completed", at=now.isoformat(),
                          ledger=ledger)
    ledger.flush()
    session.expire(call)
    session.expire(by)


def _claim(session: Session, target: User, now: dt.datetime) -> None:
    """Make ``target`` on a call, only if they are Available now (one statement)."""
    result = session.execute(
        update(User).where(User.id == target.id, User.status == AgentStatus.AVAILABLE,
                           User.active.is_(True))
        .values(status=AgentStatus.ON_CALL, status_since=now,
                status_before_call=AgentStatus.AVAILABLE, status_reason=None))
    if affected_rows(result) != 1:
        raise ControlRefused(f"{target.display_name} is not available")
    session.expire(target)


def _release(session: Session, user: User, now: dt.datetime) -> None:
    """A counselor whose part of the call is over goes to wrap-up (their record is open)."""
    session.execute(update(User).where(User.id == user.id,
                                       User.status == AgentStatus.ON_CALL)
                    .values(status=AgentStatus.WRAP_UP, status_since=now))
    session.expire(user)


def _hand_over(session: Session, telephony: Telephony, settings: Settings, call: Call,
               first: User, target: User, now: dt.datetime) -> None:
    """The first counselor leaves the room; the call and its record go to ``target``.

    The record travels with the caller (one record per call: the colleague reads and goes on
    with what was written), so the first counselor has nothing left to wrap up and returns to
    the status they had before the call.
    """
    leg = _counselor_leg(session, settings, first)
    if leg is not None:
        telephony.remove_participant(session, room_for(call), leg, purpose="transfer_leave")
    call.counselor_id = target.id
    contact = session.scalar(select(Contact).where(Contact.call_id == call.id))
    if contact is None:
        open_contact_for_call(session, target, call, now)
    else:
        contact.counselor_id = target.id
        audit.record(session, "contact.transfer", actor=first, record_type="contact",
                     record_id=contact.id, detail={"to": target.id, "call_id": call.id})
    session.execute(update(User).where(User.id == first.id,
                                       User.status == AgentStatus.ON_CALL)
                    .values(status=func.coalesce(User.status_before_call,
                                                 AgentStatus.AVAILABLE),
                            status_before_call=None, status_since=now))
    session.expire(first)


def transfer_to_colleague(session: Session, telephony: Telephony, settings: Settings,
                          call: Call, by: User, target: User, *, warm: bool,
                          now: dt.datetime | None = None) -> None:
    """Transfer to a colleague or a supervisor who is Available.

    Warm: the caller is held and the colleague joins the room to talk first; then
    :func:`complete_transfer` (or :func:`cancel_transfer`). Cold: the colleague joins and the
    first counselor leaves at once.
    """
    _own(call, by)
    now = now or utcnow()
    if target.id == by.id:
        raise ControlRefused("choose someone else to transfer to")
    if _pending_transfer(_events(session, call)) is not None:
        raise ControlRefused("a transfer is already waiting: complete or cancel it first")
    _claim(session, target, now)
    if warm and not _held(_events(session, call)):
        hold(session, telephony, settings, call, by, now)
    leg = telephony.add_participant(session, room_for(call), ring_destination(target, settings),
                                    purpose="transfer_leg")
    _sent(leg, "Ringing your colleague")
    detail = {"by": by.id, "to": target.id, "to_name": target.display_name, "warm": warm,
              "leg": leg.provider_sid}
    _event(session, call, TRANSFER_STARTED, now, **detail)
    if not warm:
        _hand_over(session, telephony, settings, call, by, target, now)
        _event(session, call, TRANSFERRED, now, **detail)


def complete_transfer(session: Session, telephony: Telephony, settings: Settings, call: Call,
                      by: User, now: dt.datetime | None = None) -> None:
    """A warm transfer's hand-over: the caller comes off hold with the colleague, and the
    first counselor leaves (the record goes with the call)."""
    _own(call, by)
    now = now or utcnow()
    pending = _pending_transfer(_events(session, call))
    if pending is None:
        raise ControlRefused("no transfer is waiting")
    target = session.get(User, pending.detail["to"])
    assert target is not None
    if _held(_events(session, call)):
        resume(session, telephony, settings, call, by, now)
    _hand_over(session, telephony, settings, call, by, target, now)
    _event(session, call, TRANSFERRED, now, **pending.detail)


def cancel_transfer(session: Session, telephony: Telephony, settings: Settings, call: Call,
                    by: User, now: dt.datetime | None = None) -> None:
    """The colleague leaves; the caller stays on hold with the first counselor."""
    _own(call, by)
    now = now or utcnow()
    pending = _pending_transfer(_events(session, call))
    if pending is None:
        raise ControlRefused("no transfer is waiting")
    if pending.detail.get("leg"):
        telephony.remove_participant(session, room_for(call), pending.detail["leg"],
                                     purpose="transfer_cancel")
    session.execute(update(User).where(User.id == pending.detail["to"],
                                       User.status == AgentStatus.ON_CALL)
                    .values(status=AgentStatus.AVAILABLE, status_since=now,
                            status_before_call=None))
    _event(session, call, TRANSFER_CANCELLED, now, **pending.detail)


def transfer_to_queue(session: Session, telephony: Telephony, settings: Settings, call: Call,
                      by: User, group: str, queue_name: str,
                      now: dt.datetime | None = None) -> None:
    """Cold transfer back into a queue, at the top of it (its first wait kept): the caller
    holds again and routing offers them to the next eligible counselor."""
    _own(call, by)
    now = now or utcnow()
    _sent(telephony.redirect_call(session, call.call_sid, call.call_sid,
                                  webhook_url(settings, "conference/requeue", group=group,
                                              lang=call.language), purpose="requeue"),
          "Putting the caller back in the queue")
    # The first counselor keeps their record to finish; the caller's next counselor opens a
    # new one for the call (one record per call).
    contact = session.scalar(select(Contact).where(Contact.call_id == call.id))
    if contact is not None:
        contact.call_id = None
        audit.record(session, "contact.requeue", actor=by, record_type="contact",
                     record_id=contact.id, detail={"call_id": call.id})
    call.counselor_id = None
    call.status = "queued"
    call.queue_name = queue_name
    call.priority = TOP_OF_QUEUE_PRIORITY
    if call.enqueued_at is None:
        call.enqueued_at = now
    _event(session, call, REQUEUED, now, by=by.id, queue=queue_name)
    _release(session, by, now)


# --- supervision ---------------------------------------------------------------------------

def supervise(session: Session, telephony: Telephony, settings: Settings, call: Call,
              supervisor: User, mode: str, now: dt.datetime | None = None) -> None:
    """Listen (muted), coach (heard by the counselor only) or barge (heard by everyone).

    The first time the supervisor's phone is dialled into the room; after that their
    participant is changed in place.
    """
    if mode not in SUPERVISION_MODES:
        raise ControlRefused("choose listen, coach or barge")
    _live(call)
    now = now or utcnow()
    counselor = session.get(User, call.counselor_id)
    assert counselor is not None
    counselor_leg = _counselor_leg(session, settings, counselor)
    if mode == "coach" and counselor_leg is None:
        raise ControlRefused("the counselor's phone leg is not known: coaching needs it")
    room = room_for(call)
    coach = counselor_leg if mode == "coach" else None
    present = _supervisors(_events(session, call)).get(supervisor.id)
    if present is None:
        leg = telephony.add_participant(session, room, ring_destination(supervisor, settings),
                                        purpose="supervisor_leg", muted=mode == "listen",
                                        coaching=mode == "coach", call_sid_to_coach=coach)
        _sent(leg, "Ringing your phone")
        sid = leg.provider_sid
    else:
        sid = present.get("leg")
        if present.get("mode") == mode:
            return
        _sent(telephony.update_participant(session, room, str(sid), purpose="supervisor_mode",
                                           muted=mode == "listen", coaching=mode == "coach",
                                           call_sid_to_coach=coach), "Changing how you listen")
    _event(session, call, SUPERVISION, now, supervisor_id=supervisor.id,
           name=supervisor.display_name, mode=mode, leg=sid)


def stop_supervising(session: Session, telephony: Telephony, settings: Settings, call: Call,
                     supervisor: User, now: dt.datetime | None = None) -> None:
    present = _supervisors(_events(session, call)).get(supervisor.id)
    if present is None:
        raise ControlRefused("you are not on this call")
    if present.get("leg") and call.ended_at is None:
        telephony.remove_participant(session, room_for(call), str(present["leg"]),
                                     purpose="supervisor_leave")
    _event(session, call, SUPERVISOR_LEFT, now or utcnow(), supervisor_id=supervisor.id)


def live_calls(session: Session) -> list[tuple[Call, User]]:
    """Calls with a counselor on them now, longest first (the supervisor's list)."""
    rows = session.execute(
        select(Call, User).join(User, User.id == Call.counselor_id)
        .where(Call.ended_at.is_(None), Call.answered_at.is_not(None),
               Call.status == "in-progress")
        .order_by(Call.answered_at)).all()
    return [(call, user) for call, user in rows]


# --- wrap-up -------------------------------------------------------------------------------

@dataclass(frozen=True)
class OverdueWrapUp:
    user_id: int
    name: str
    since: dt.datetime
    minutes: int


def overdue_wrap_ups(session: Session, settings: Settings,
                     now: dt.datetime | None = None) -> list[OverdueWrapUp]:
    """Counselors in wrap-up longer than ``WRAP_UP_LIMIT_MINUTES``, longest first (for the
    wallboard)."""
    now = now or utcnow()
    limit = dt.timedelta(minutes=settings.wrap_up_limit_minutes)
    users = session.scalars(select(User).where(User.status == AgentStatus.WRAP_UP,
                                               User.status_since.is_not(None))
                            .order_by(User.status_since))
    return [OverdueWrapUp(u.id, u.display_name, u.status_since,
                          int((now - _aware(u.status_since)).total_seconds() // 60))
            for u in users if now - _aware(u.status_since) >= limit]


# --- what the simulated caller hears -------------------------------------------------------

CALLER_HEARS = {
    HELD: ("hold", "You are on hold. Please stay on the line. (hold music)"),
    RESUMED: ("resume", "You are back with your counselor."),
    TRANSFER_STARTED: ("transfer", "Connecting you to a colleague."),
    TRANSFERRED: ("transfer", "You are now with another counselor."),
    TRANSFER_CANCELLED: ("note", "(the colleague left the call)"),
    REQUEUED: ("requeue", "Transferring you back to the queue: you keep your place at the "
                          "front."),
    ENDED_BY_STAFF: ("end", "The counselor ended the call."),
}


def heard_since(session: Session, call: Call, since: int) -> list[dict[str, Any]]:
    """The control events after event id ``since``, as the simulated caller (and the
    counselor's simulated phone) would notice them."""
    out: list[dict[str, Any]] = []
    for event in _events(session, call):
        if event.id <= since:
            continue
        if event.kind == SUPERVISION:
            mode = event.detail.get("mode")
            # The caller hears a supervisor only when they barge; the counselor hears a coach.
            kind, text = {
                "listen": ("counselor", "Counselor's phone: a supervisor is listening."),
                "coach": ("counselor", "Counselor's phone: your supervisor is coaching you "
                                       "(the caller cannot hear them)."),
                "barge": ("supervisor", "A supervisor has joined the call."),
            }.get(str(mode), ("note", ""))
        elif event.kind == SUPERVISOR_LEFT:
            kind, text = "counselor", "Counselor's phone: the supervisor left."
        else:
            kind, text = CALLER_HEARS[event.kind]
        heard: dict[str, Any] = {"id": event.id, "kind": kind, "text": text}
        if event.kind == REQUEUED:
            # Where Twilio would move the caller's call (relative: the simulator's own base).
            group = str(event.detail.get("queue", "")).rpartition("-")[0] or "general"
            heard["url"] = f"/ivr/conference/requeue?group={group}&lang={call.language}"
        out.append(heard)
    return out
