"""The follow-up life cycle: consent, request, schedule, assign, deliver once, attempts, outcome.

A follow-up exists only with the caller's recorded consent (who recorded it, when, the channel,
the number and the exact wording). Delivery is exactly once: a follow-up leaves its due state
by one conditional UPDATE, and only the run whose UPDATE changed the row calls the provider.
The claim is committed before the provider is called, so a crash in between leaves the
follow-up in ``sending`` (shown to supervisors as stuck) rather than texting someone twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from helpline import audit, crypto
from helpline.config import Settings
from helpline.db import Database, utcnow
from helpline.models import Call, Contact, User
from helpline.models.followups import (
    CLOSED_STATES,
    DUE_STATES,
    OPEN_STATES,
    AttemptResult,
    FollowUp,
    FollowUpAttempt,
    FollowUpConsent,
    FollowUpKind,
    FollowUpNotice,
    FollowUpOutcome,
    FollowUpState,
)
from helpline.models.users import AgentStatus, Role
from helpline.optouts import is_opted_out
from helpline.telephony import Telephony

log = logging.getLogger(__name__)

SCHEDULER_ACTOR = "scheduler"
CHANNELS = {"call", "sms"}
KIND_CHANNEL = {
    FollowUpKind.REMINDER: "call",
    FollowUpKind.SMS_CHECKIN: "sms",
    FollowUpKind.BRIDGED_CALLBACK: "call",
}
SOURCES = {"counselor", "ivr_callback", "supervisor"}
# The IVR prompt the caller answered; recorded word for word as the consent.
QUEUE_CALLBACK_CONSENT = (
    "Caller pressed the key for a call back at the number they called from, instead of holding."
)
# How late a due follow-up may be before supervisors are told, and how long a claim may sit.
OVERDUE_AFTER = dt.timedelta(minutes=15)
STUCK_SENDING_AFTER = dt.timedelta(minutes=10)
UNSCHEDULED_AFTER = dt.timedelta(hours=24)
NO_RESULT_AFTER = dt.timedelta(hours=24)
# A counselor who did not pick up a bridged callback: try the next one after this.
COUNSELOR_MISSED_RETRY = dt.timedelta(minutes=2)
# Reaching the caller is not in doubt for these results: no retry.
_FINAL_RESULTS = {
    AttemptResult.REACHED: None,
    AttemptResult.SENT: FollowUpOutcome.CHECKIN_SENT,
    AttemptResult.WRONG_NUMBER: FollowUpOutcome.WRONG_NUMBER,
    AttemptResult.OPTED_OUT: FollowUpOutcome.OPTED_OUT,
}
_RETRY_RESULTS = {AttemptResult.NO_ANSWER, AttemptResult.BUSY, AttemptResult.FAILED}
# Twilio's DialCallStatus (caller leg) as an attempt result.
DIAL_STATUS_RESULTS = {
    "completed": AttemptResult.REACHED,
    "answered": AttemptResult.REACHED,
    "busy": AttemptResult.BUSY,
    "no-answer": AttemptResult.NO_ANSWER,
    "canceled": AttemptResult.NO_ANSWER,
    "failed": AttemptResult.FAILED,
}


class FollowUpError(Exception):
    """A follow-up request or change that is refused; the message is safe to show staff."""


# --- time zones and quiet hours -------------------------------------------------------------


def caller_timezone(zip_code: str | None, settings: Settings | None = None) -> str:
    """The caller's IANA time zone from their ZIP code, else the helpline's default."""
    default = (settings or Settings()).default_timezone
    if zip_code:
        from helpline.directory.geo import zip_point

        point = zip_point(zip_code)
        if point is not None and point.timezone:
            return point.timezone
    return default


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise FollowUpError(f"unknown time zone {name!r}") from None


def in_quiet_hours(when: dt.datetime, timezone: str, settings: Settings) -> bool:
    """True when ``when`` falls in the quiet hours (no texts or calls) in ``timezone``."""
    start, end = settings.quiet_hours_start, settings.quiet_hours_end
    if start == end:
        return False
    hour = when.astimezone(_zone(timezone)).hour
    if start > end:  # wraps midnight, e.g. 21 -> 8
        return hour >= start or hour < end
    return start <= hour < end


def next_allowed_time(when: dt.datetime, timezone: str, settings: Settings) -> dt.datetime:
    """``when`` itself if outside quiet hours, else the moment quiet hours end (UTC)."""
    if not in_quiet_hours(when, timezone, settings):
        return when
    local = when.astimezone(_zone(timezone))
    end = local.replace(hour=settings.quiet_hours_end, minute=0, second=0, microsecond=0)
    if end <= local:
        end = (local + dt.timedelta(days=1)).replace(
            hour=settings.quiet_hours_end, minute=0, second=0, microsecond=0
        )
    return end.astimezone(dt.UTC)


# --- consent and opt-outs -------------------------------------------------------------------


def withdraw_consent(session: Session, consent: FollowUpConsent, *, by: User | None,
                     how: str = "caller asked", now: dt.datetime | None = None) -> int:
    """Record that the caller withdrew consent and stop every open follow-up resting on it.

    Returns how many follow-ups were stopped. A follow-up being delivered right now is also
    checked again by its delivery run.
    """
    now = now or utcnow()
    if consent.withdrawn_at is None:
        consent.withdrawn_at = now
        consent.withdrawn_by_id = by.id if by else None
        consent.withdrawn_how = how[:40]
    stopped = session.execute(
        update(FollowUp)
        .where(FollowUp.consent_id == consent.id,
               FollowUp.state.in_([s for s in OPEN_STATES if s != FollowUpState.SENDING]))
        .values(state=FollowUpState.STOPPED, outcome=FollowUpOutcome.CONSENT_WITHDRAWN,
                closed_at=now, updated_at=now)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    audit.record(session, "followup.consent_withdrawn", actor=by, record_type="followup_consent",
                 record_id=consent.id, detail={"how": how[:40], "followups_stopped": stopped})
    return stopped


# --- requests -------------------------------------------------------------------------------


def request_followup(
    session: Session,
    *,
    contact: Contact | None = None,
    call: Call | None = None,
    phone: str | None,
    channel: str,
    kind: str,
    requested_by: User | None,
    consent_wording: str,
    window_start: dt.datetime | None = None,
    window_end: dt.datetime | None = None,
    language: str = "en",
    source: str = "counselor",
    zip_code: str | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> FollowUp:
    """Record the caller's consent and a follow-up request resting on it.

    Refused (FollowUpError) without consent wording, without a reachable number, for a kind
    that does not match the channel, or for texts to a number that opted out (STOP).
    Counselor and supervisor requests wait for a supervisor to schedule them.
    """
    now = now or utcnow()
    settings = settings or Settings()
    wording = (consent_wording or "").strip()
    if not wording:
        raise FollowUpError("a follow-up needs the caller's consent, in the words they agreed to")
    if channel not in CHANNELS:
        raise FollowUpError(f"channel must be call or sms, not {channel!r}")
    try:
        kind_enum = FollowUpKind(kind)
    except ValueError:
        raise FollowUpError(f"unknown follow-up kind {kind!r}") from None
    if KIND_CHANNEL[kind_enum] != channel:
        raise FollowUpError(f"a {kind} follow-up needs consent for the {KIND_CHANNEL[kind_enum]} "
                            "channel")
    if source not in SOURCES:
        raise FollowUpError(f"unknown source {source!r}")
    if source != "ivr_callback" and requested_by is None:
        raise FollowUpError("a follow-up request must name the staff member who recorded consent")
    number = crypto.normalise_number(phone)
    if number is None or number.startswith("client:"):
        raise FollowUpError("a follow-up needs a number the caller can be reached at")
    if channel == "sms" and is_opted_out(session, number):
        raise FollowUpError("this number has opted out of texts (STOP); no text can be sent")
    if window_start and window_end and window_end <= window_start:
        raise FollowUpError("the caller's window ends before it starts")
    zip_code = zip_code or (contact.zip_code if contact else None) or (
        call.zip_code if call else None)

    consent = FollowUpConsent(
        caller_hash=crypto.caller_hash(number), phone=number, channel=channel, wording=wording,
        recorded_via="ivr" if source == "ivr_callback" else source,
        recorded_by_id=requested_by.id if requested_by else None, recorded_at=now,
    )
    session.add(consent)
    session.flush()
    followup = FollowUp(
        consent_id=consent.id,
        contact_id=contact.id if contact else None,
        call_id=call.id if call else (contact.call_id if contact else None),
        caller_hash=consent.caller_hash, phone=number, kind=kind_enum.value, channel=channel,
        source=source, state=FollowUpState.REQUESTED, language=language,
        timezone=caller_timezone(zip_code, settings), window_start=window_start,
        window_end=window_end, max_attempts=settings.followup_max_attempts,
        requested_by_id=requested_by.id if requested_by else None,
        created_at=now, updated_at=now,
    )
    session.add(followup)
    session.flush()
    actor = requested_by or "ivr"
    audit.record(session, "followup.consent_recorded", actor=actor,
                 record_type="followup_consent", record_id=consent.id,
                 detail={"channel": channel, "via": consent.recorded_via})
    audit.record(session, "followup.request", actor=actor, record_type="followup",
                 record_id=followup.id, detail={"kind": kind_enum.value, "source": source})
    return followup


def request_callback_from_queue(session: Session, call: Call, phone: str | None,
                                now: dt.datetime | None = None,
                                settings: Settings | None = None) -> FollowUp:
    """A caller in the IVR queue chose a call back: a bridged callback, due now.

    Callbacks due together are delivered in the order the callers started holding
    (``Call.enqueued_at``). Idempotent per call, since Twilio retries webhooks.
    """
    now = now or utcnow()
    existing = session.scalar(select(FollowUp).where(FollowUp.call_id == call.id,
                                                     FollowUp.source == "ivr_callback"))
    if existing is not None:
        return existing
    followup = request_followup(
        session, call=call, phone=phone, channel="call", kind=FollowUpKind.BRIDGED_CALLBACK,
        requested_by=None, consent_wording=QUEUE_CALLBACK_CONSENT, language=call.language,
        source="ivr_callback", settings=settings, now=now,
    )
    followup.state = FollowUpState.SCHEDULED
    followup.due_at = now
    followup.queued_since = call.enqueued_at or call.started_at or now
    session.flush()
    return followup


# --- supervisor actions ---------------------------------------------------------------------


def _require_open(followup: FollowUp) -> None:
    if followup.state in CLOSED_STATES:
        raise FollowUpError(f"follow-up {followup.id} is already {followup.state}")
    if followup.consent.withdrawn_at is not None:
        raise FollowUpError(f"the caller withdrew consent for follow-up {followup.id}")


def local_time(followup: FollowUp, when: dt.datetime) -> dt.datetime:
    """``when`` in the caller's time zone (for display)."""
    return when.astimezone(_zone(followup.timezone))


def schedule(session: Session, followup: FollowUp, *, at: dt.datetime, by: User,
             settings: Settings, now: dt.datetime | None = None) -> FollowUp:
    """Set when a follow-up is due. A naive ``at`` is read in the caller's time zone.

    Refused in the past, outside the caller's window or in quiet hours in the caller's zone.
    """
    now = now or utcnow()
    _require_open(followup)
    if followup.state in (FollowUpState.SENDING, FollowUpState.AWAITING_RESULT):
        raise FollowUpError("this follow-up is being delivered; wait for its result")
    due = at.replace(tzinfo=_zone(followup.timezone)) if at.tzinfo is None else at
    due = due.astimezone(dt.UTC)
    if due < now - dt.timedelta(minutes=1):
        raise FollowUpError("that time has already passed")
    if followup.window_start and due < followup.window_start:
        raise FollowUpError("that is before the window the caller gave")
    if followup.window_end and due > followup.window_end:
        raise FollowUpError("that is after the window the caller gave")
    if in_quiet_hours(due, followup.timezone, settings):
        raise FollowUpError(
            f"{local_time(followup, due):%H:%M} is in quiet hours for the caller "
            f"({followup.timezone}): choose between {settings.quiet_hours_end}:00 and "
            f"{settings.quiet_hours_start}:00 their time"
        )
    followup.due_at = due
    followup.queued_since = due if followup.source != "ivr_callback" else followup.queued_since
    followup.state = (FollowUpState.RETRY if followup.state == FollowUpState.RETRY
                      else FollowUpState.SCHEDULED)
    followup.escalated_at = None
    followup.updated_at = now
    session.flush()
    audit.record(session, "followup.schedule", actor=by, record_type="followup",
                 record_id=followup.id, detail={"due_at": due.isoformat(),
                                                "timezone": followup.timezone})
    return followup


def assign(session: Session, followup: FollowUp, counselor: User | None, *, by: User,
           now: dt.datetime | None = None) -> FollowUp:
    """Assign to a counselor, or (``None``) leave it to the next available one."""
    now = now or utcnow()
    _require_open(followup)
    if counselor is not None and (not counselor.active or counselor.role == Role.ADMIN):
        raise FollowUpError("follow-ups go to active counselors or supervisors")
    before = followup.assigned_to_id
    followup.assigned_to_id = counselor.id if counselor else None
    followup.updated_at = now
    session.flush()
    action = "followup.reassign" if before is not None else "followup.assign"
    audit.record(session, action, actor=by, record_type="followup", record_id=followup.id,
                 detail={"from": before, "to": followup.assigned_to_id})
    return followup


def cancel(session: Session, followup: FollowUp, *, by: User | None, reason: str = "",
           now: dt.datetime | None = None) -> FollowUp:
    """Cancel an open follow-up (not while a delivery run holds it)."""
    now = now or utcnow()
    cancellable = [s for s in OPEN_STATES if s != FollowUpState.SENDING]
    changed = session.execute(
        update(FollowUp)
        .where(FollowUp.id == followup.id, FollowUp.state.in_(cancellable))
        .values(state=FollowUpState.CANCELLED, outcome=FollowUpOutcome.CANCELLED,
                closed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(followup)
    if changed != 1:
        raise FollowUpError(f"follow-up {followup.id} cannot be cancelled while it is "
                            f"{followup.state}")
    audit.record(session, "followup.cancel", actor=by, record_type="followup",
                 record_id=followup.id, detail={"reason": reason[:80]})
    return followup


def set_outcome(session: Session, followup: FollowUp, outcome: str, *, by: User,
                now: dt.datetime | None = None) -> FollowUp:
    """Record how the follow-up ended (counts in reports); closes it if still open."""
    now = now or utcnow()
    try:
        outcome = FollowUpOutcome(outcome).value
    except ValueError:
        raise FollowUpError(f"unknown outcome {outcome!r}") from None
    if followup.state == FollowUpState.SENDING:
        raise FollowUpError("this follow-up is being delivered; wait for its result")
    followup.outcome = outcome
    if followup.state not in CLOSED_STATES:
        followup.state = FollowUpState.DONE
        followup.closed_at = now
    followup.updated_at = now
    session.flush()
    audit.record(session, "followup.outcome", actor=by, record_type="followup",
                 record_id=followup.id, detail={"outcome": outcome})
    return followup


# --- attempts and results -------------------------------------------------------------------


def _pending_attempt(session: Session, followup_id: int) -> FollowUpAttempt | None:
    return session.scalar(
        select(FollowUpAttempt)
        .where(FollowUpAttempt.followup_id == followup_id,
               FollowUpAttempt.result == "pending")
        .order_by(FollowUpAttempt.id.desc()).limit(1)
    )


def _apply_result(followup: FollowUp, result: AttemptResult, settings: Settings,
                  now: dt.datetime, outcome: str | None = None) -> None:
    """Move the follow-up on after an attempt: done, stopped, or retried later."""
    followup.updated_at = now
    if result in _FINAL_RESULTS:
        followup.state = (FollowUpState.STOPPED if result == AttemptResult.OPTED_OUT
                          else FollowUpState.DONE)
        followup.outcome = outcome or _FINAL_RESULTS[result] or followup.outcome
        followup.closed_at = now
    elif followup.attempts < followup.max_attempts:
        followup.state = FollowUpState.RETRY
        retry_at = now + dt.timedelta(minutes=settings.followup_retry_minutes)
        followup.due_at = next_allowed_time(retry_at, followup.timezone, settings)
        followup.escalated_at = None
    else:
        followup.state = FollowUpState.DONE
        followup.outcome = outcome or FollowUpOutcome.UNREACHABLE
        followup.closed_at = now


def record_attempt(session: Session, followup: FollowUp, result: str, *, by: User | None,
                   settings: Settings, via: str = "counselor", outcome: str | None = None,
                   now: dt.datetime | None = None) -> FollowUpAttempt:
    """Record how an attempt went (a counselor after a reminder, or a call leg's result).

    Fills in the delivery's pending attempt when there is one. No answer, busy and failed
    are retried ``followup_max_attempts`` times, ``followup_retry_minutes`` apart (never in
    quiet hours); then the follow-up is closed as unreachable.
    """
    now = now or utcnow()
    try:
        result_enum = AttemptResult(result)
    except ValueError:
        raise FollowUpError(f"unknown attempt result {result!r}") from None
    if outcome is not None:
        outcome = FollowUpOutcome(outcome).value
    if followup.state in CLOSED_STATES or followup.state == FollowUpState.SENDING:
        raise FollowUpError(f"follow-up {followup.id} is {followup.state}; no attempt to record")
    attempt = _pending_attempt(session, followup.id)
    if attempt is None:
        attempt = FollowUpAttempt(followup_id=followup.id, at=now, result=result_enum.value,
                                  via=via)
        session.add(attempt)
    attempt.result = result_enum.value
    attempt.via = via
    attempt.recorded_by_id = by.id if by else None
    _apply_result(followup, result_enum, settings, now, outcome)
    session.flush()
    audit.record(session, "followup.attempt", actor=by or "twilio", record_type="followup",
                 record_id=followup.id,
                 detail={"result": result_enum.value, "via": via, "state": followup.state})
    return attempt


def record_dial_result(session: Session, followup_id: int, dial_status: str, *,
                       settings: Settings, now: dt.datetime | None = None) -> FollowUp | None:
    """The caller leg of a bridged callback ended (Twilio's DialCallStatus). Idempotent."""
    followup = session.get(FollowUp, followup_id)
    if followup is None or followup.state != FollowUpState.AWAITING_RESULT:
        return followup
    result = DIAL_STATUS_RESULTS.get(dial_status, AttemptResult.FAILED)
    record_attempt(session, followup, result, by=None, settings=settings, via="call", now=now)
    return followup


def counselor_leg_ended(session: Session, followup_id: int, call_status: str, *,
                        now: dt.datetime | None = None) -> FollowUp | None:
    """The counselor did not pick up a bridged callback: not the caller's attempt; try again
    shortly with whoever is available. Idempotent; ignores a leg that was answered."""
    now = now or utcnow()
    if call_status not in {"no-answer", "busy", "failed", "canceled"}:
        return None
    followup = session.get(FollowUp, followup_id)
    if followup is None or followup.state != FollowUpState.AWAITING_RESULT:
        return followup
    attempt = _pending_attempt(session, followup.id)
    if attempt is not None:
        attempt.result = AttemptResult.NO_ANSWER.value
        attempt.via = "counselor"
    followup.state = FollowUpState.RETRY
    followup.attempts = max(0, followup.attempts - 1)
    followup.due_at = now + COUNSELOR_MISSED_RETRY
    followup.bridged_to_id = None
    followup.updated_at = now
    session.flush()
    audit.record(session, "followup.counselor_missed", actor="twilio", record_type="followup",
                 record_id=followup.id, detail={"call_status": call_status})
    return followup


# --- lists ----------------------------------------------------------------------------------


def requested_followups(session: Session) -> list[FollowUp]:
    """Requests waiting for a supervisor to schedule them, oldest first."""
    return list(session.scalars(select(FollowUp).where(
        FollowUp.state == FollowUpState.REQUESTED).order_by(FollowUp.created_at, FollowUp.id)))


def due_followups(session: Session, now: dt.datetime | None = None,
                  limit: int | None = None) -> list[FollowUp]:
    """Follow-ups whose time has come, in delivery order (callbacks by when callers held)."""
    now = now or utcnow()
    query = (select(FollowUp)
             .where(FollowUp.state.in_(DUE_STATES), FollowUp.due_at <= now)
             .order_by(FollowUp.queued_since, FollowUp.due_at, FollowUp.id))
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


def upcoming_followups(session: Session, now: dt.datetime | None = None) -> list[FollowUp]:
    now = now or utcnow()
    return list(session.scalars(select(FollowUp).where(
        FollowUp.state.in_(DUE_STATES), FollowUp.due_at > now).order_by(FollowUp.due_at)))


def _overdue_clause(now: dt.datetime):  # type: ignore[no-untyped-def]
    return or_(
        and_(FollowUp.state.in_(DUE_STATES), FollowUp.due_at < now - OVERDUE_AFTER),
        and_(FollowUp.state == FollowUpState.SENDING,
             FollowUp.claimed_at < now - STUCK_SENDING_AFTER),
        and_(FollowUp.state == FollowUpState.REQUESTED,
             FollowUp.created_at < now - UNSCHEDULED_AFTER),
        and_(FollowUp.state == FollowUpState.AWAITING_RESULT,
             FollowUp.claimed_at < now - NO_RESULT_AFTER),
    )


def overdue_followups(session: Session, now: dt.datetime | None = None) -> list[FollowUp]:
    """Late, stuck, unscheduled or unresolved follow-ups that need a supervisor."""
    now = now or utcnow()
    return list(session.scalars(select(FollowUp).where(_overdue_clause(now))
                                .order_by(FollowUp.due_at, FollowUp.id)))


def done_followups(session: Session, since: dt.datetime | None = None,
                   limit: int = 200) -> list[FollowUp]:
    query = select(FollowUp).where(FollowUp.state.in_(CLOSED_STATES))
    if since is not None:
        query = query.where(FollowUp.closed_at >= since)
    return list(session.scalars(query.order_by(FollowUp.closed_at.desc()).limit(limit)))


def notices_for(session: Session, user: User) -> list[FollowUpNotice]:
    """Unread follow-up notices for this user (their own and their role's)."""
    return list(session.scalars(
        select(FollowUpNotice)
        .where(FollowUpNotice.read_at.is_(None),
               or_(FollowUpNotice.user_id == user.id,
                   and_(FollowUpNotice.user_id.is_(None), FollowUpNotice.role == user.role)))
        .order_by(FollowUpNotice.id)))


# --- delivery -------------------------------------------------------------------------------


def checkin_text(settings: Settings) -> str:
    """The SMS check-in body: configurable, neutral, never a note or a word of substance use."""
    return settings.sms_checkin_text.format(helpline=settings.helpline_name,
                                            number=settings.helpline_number)


def reminder_text(settings: Settings, followup_id: int) -> str:
    return (f"{settings.helpline_name}: follow-up #{followup_id} is due. "
            "Details are on the dashboard.")


def next_available_counselor(session: Session, language: str) -> User | None:
    """An available counselor who speaks ``language`` and is not already ringing for a
    callback; the one available longest first."""
    busy = select(FollowUp.bridged_to_id).where(
        FollowUp.state.in_((FollowUpState.SENDING, FollowUpState.AWAITING_RESULT)),
        FollowUp.bridged_to_id.is_not(None))
    candidates = session.scalars(
        select(User).where(User.active.is_(True), User.status == AgentStatus.AVAILABLE,
                           User.role.in_((Role.COUNSELOR, Role.SUPERVISOR)),
                           User.id.not_in(busy))
        .order_by(User.status_since, User.id))
    for user in candidates:
        if language in user.language_list:
            return user
    return None


@dataclass
class DeliveryReport:
    delivered: list[int] = field(default_factory=list)
    lost_race: int = 0  # claimed by another run first
    deferred: int = 0  # quiet hours in the caller's zone
    waiting_for_counselor: int = 0
    stopped: int = 0  # STOP or consent withdrawn
    failed: int = 0


SessionSource = Database | sessionmaker | Callable[[], Session]


def _factory(source: SessionSource) -> Callable[[], Session]:
    if isinstance(source, Database):
        return source.sessions
    return source


def _caller_facing(followup: FollowUp) -> bool:
    return followup.kind in (FollowUpKind.SMS_CHECKIN, FollowUpKind.BRIDGED_CALLBACK)


def _still_due(now: dt.datetime, followup_id: int):  # type: ignore[no-untyped-def]
    return and_(FollowUp.id == followup_id, FollowUp.state.in_(DUE_STATES),
                FollowUp.due_at <= now)


def deliver_due_followups(sessions: SessionSource, telephony: Telephony, settings: Settings,
                          now: dt.datetime | None = None, limit: int = 1000) -> DeliveryReport:
    """Deliver every follow-up due at ``now``, each exactly once however many runs race.

    Each follow-up is claimed by a conditional UPDATE (state due and due_at <= now) in its own
    committed transaction; only the run that changed the row calls the provider.
    """
    now = now or utcnow()
    factory = _factory(sessions)
    report = DeliveryReport()
    with factory() as session:
        ids = list(session.scalars(
            select(FollowUp.id)
            .where(FollowUp.state.in_(DUE_STATES), FollowUp.due_at <= now)
            .order_by(FollowUp.queued_since, FollowUp.due_at, FollowUp.id).limit(limit)))
    for followup_id in ids:
        if _claim(factory, followup_id, settings, now, report):
            _send(factory, followup_id, telephony, settings, now, report)
    return report


def _claim(factory: Callable[[], Session], followup_id: int, settings: Settings,
           now: dt.datetime, report: DeliveryReport) -> bool:
    """Check what would stop or defer delivery, then claim. True if this run won."""
    with factory() as session:
        followup = session.get(FollowUp, followup_id)
        if followup is None or followup.state not in DUE_STATES:
            report.lost_race += 1
            return False
        stop_outcome = None
        if followup.consent.withdrawn_at is not None:
            stop_outcome = FollowUpOutcome.CONSENT_WITHDRAWN
        elif followup.kind == FollowUpKind.SMS_CHECKIN and is_opted_out(session, followup.phone):
            stop_outcome = FollowUpOutcome.OPTED_OUT
        if stop_outcome is not None:
            changed = session.execute(
                update(FollowUp).where(_still_due(now, followup_id))
                .values(state=FollowUpState.STOPPED, outcome=stop_outcome, closed_at=now,
                        updated_at=now)
            ).rowcount
            if changed == 1:
                if stop_outcome == FollowUpOutcome.OPTED_OUT:
                    session.add(FollowUpAttempt(followup_id=followup_id, at=now,
                                                result=AttemptResult.OPTED_OUT, via="delivery"))
                audit.record(session, "followup.stopped", actor=SCHEDULER_ACTOR,
                             record_type="followup", record_id=followup_id,
                             detail={"outcome": stop_outcome.value})
                report.stopped += 1
            session.commit()
            return False
        if _caller_facing(followup) and in_quiet_hours(now, followup.timezone, settings):
            later = next_allowed_time(now, followup.timezone, settings)
            session.execute(update(FollowUp).where(_still_due(now, followup_id))
                            .values(due_at=later, updated_at=now))
            session.commit()
            report.deferred += 1
            return False
        counselor_id = None
        if followup.kind == FollowUpKind.BRIDGED_CALLBACK:
            counselor = (session.get(User, followup.assigned_to_id) if followup.assigned_to_id
                         else next_available_counselor(session, followup.language))
            if counselor is None:
                report.waiting_for_counselor += 1
                return False
            counselor_id = counselor.id
        session.expunge_all()
        claimed = session.execute(
            update(FollowUp).where(_still_due(now, followup_id))
            .values(state=FollowUpState.SENDING, claimed_at=now, updated_at=now,
                    attempts=FollowUp.attempts + 1, bridged_to_id=counselor_id)
        ).rowcount
        if claimed != 1:
            session.rollback()
            report.lost_race += 1
            return False
        session.commit()
        return True


def _send(factory: Callable[[], Session], followup_id: int, telephony: Telephony,
          settings: Settings, now: dt.datetime, report: DeliveryReport) -> None:
    """Call the provider for a follow-up this run claimed, and record what happened."""
    with factory() as session:
        followup = session.get(FollowUp, followup_id)
        assert followup is not None and followup.state == FollowUpState.SENDING
        try:
            attempt = _deliver(session, followup, telephony, settings, now)
        except Exception as exc:  # keep the claim's record whatever the adapter did
            session.rollback()
            log.error("follow-up %s: delivery failed (%s)", followup_id, type(exc).__name__)
            followup = session.get(FollowUp, followup_id)
            assert followup is not None
            attempt = FollowUpAttempt(followup_id=followup_id, at=now,
                                      result=AttemptResult.FAILED, via="delivery")
            session.add(attempt)
            _apply_result(followup, AttemptResult.FAILED, settings, now)
        if attempt.result == AttemptResult.FAILED:
            report.failed += 1
        else:
            report.delivered.append(followup_id)
        audit.record(session, "followup.deliver", actor=SCHEDULER_ACTOR, record_type="followup",
                     record_id=followup_id,
                     detail={"kind": followup.kind, "attempt": followup.attempts,
                             "result": attempt.result, "state": followup.state})
        session.commit()


def _deliver(session: Session, followup: FollowUp, telephony: Telephony, settings: Settings,
             now: dt.datetime) -> FollowUpAttempt:
    base = settings.public_base_url
    purpose = f"followup_{followup.kind}"
    if followup.kind == FollowUpKind.SMS_CHECKIN:
        msg = telephony.send_sms(session, followup.phone or "", checkin_text(settings),
                                 purpose=purpose)
        result = AttemptResult.FAILED if msg.status == "failed" else AttemptResult.SENT
    elif followup.kind == FollowUpKind.BRIDGED_CALLBACK:
        counselor = session.get(User, followup.bridged_to_id)
        assert counselor is not None
        # The caller's number is looked up by id in the webhook: never in a URL.
        msg = telephony.place_call(
            session, counselor.phone or f"client:{counselor.client_identity}",
            f"{base}/ivr/followups/{followup.id}/answer", purpose=purpose,
            status_callback=f"{base}/ivr/followups/{followup.id}/status",
            caller_id=settings.helpline_number)
        result = AttemptResult.FAILED if msg.status == "failed" else None
    else:
        session.add(FollowUpNotice(followup_id=followup.id, kind="reminder",
                                   user_id=followup.assigned_to_id,
                                   role=None if followup.assigned_to_id else Role.COUNSELOR.value,
                                   created_at=now))
        counselor = (session.get(User, followup.assigned_to_id) if followup.assigned_to_id
                     else None)
        msg = None
        if counselor is not None and counselor.phone and not is_opted_out(session,
                                                                            counselor.phone):
            msg = telephony.send_sms(session, counselor.phone,
                                     reminder_text(settings, followup.id), purpose=purpose)
        result = None
    attempt = FollowUpAttempt(
        followup_id=followup.id, at=now, via="delivery",
        result=(result or "pending"),
        outbox_id=msg.id if msg else None, provider_sid=msg.provider_sid if msg else None)
    session.add(attempt)
    if result is None:
        followup.state = FollowUpState.AWAITING_RESULT
        followup.updated_at = now
    else:
        _apply_result(followup, result, settings, now)
    session.flush()
    return attempt


# --- escalation -----------------------------------------------------------------------------


def escalate_overdue(session: Session, telephony: Telephony, settings: Settings,
                     now: dt.datetime | None = None) -> int:
    """Tell supervisors, once per follow-up, about late or stuck follow-ups.

    A dashboard notice and an audit event each; one neutral SMS to each supervisor with a
    phone when anything new is overdue. Returns how many were newly escalated.
    """
    now = now or utcnow()
    ids = list(session.scalars(select(FollowUp.id).where(_overdue_clause(now),
                                                         FollowUp.escalated_at.is_(None))))
    escalated = 0
    for followup_id in ids:
        changed = session.execute(
            update(FollowUp).where(FollowUp.id == followup_id, FollowUp.escalated_at.is_(None))
            .values(escalated_at=now)
        ).rowcount
        if changed != 1:
            continue
        escalated += 1
        session.add(FollowUpNotice(followup_id=followup_id, kind="overdue",
                                   role=Role.SUPERVISOR.value, created_at=now))
        audit.record(session, "followup.escalate", actor=SCHEDULER_ACTOR,
                     record_type="followup", record_id=followup_id)
    if escalated:
        supervisors = session.scalars(select(User).where(
            User.role == Role.SUPERVISOR, User.active.is_(True), User.phone.is_not(None)))
        body = (f"{settings.helpline_name}: {escalated} follow-up(s) are overdue. "
                "Details are on the dashboard.")
        for supervisor in supervisors:
            if supervisor.phone and not is_opted_out(session, supervisor.phone):
                telephony.send_sms(session, supervisor.phone, body,
                                   purpose="followup_escalation")
    session.flush()
    return escalated
