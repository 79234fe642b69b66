"""The follow-up life cycle: consent, request, schedule, assign, attempts, outcome.

A follow-up exists only with the caller's recorded consent (who recorded it, when, the scope,
the number and the exact wording), a :class:`~helpline.models.Consent` written and checked
through :mod:`helpline.consent`. Delivering due follow-ups exactly once is
:mod:`helpline.followups.delivery`; what staff see of them, :mod:`helpline.followups.lists`;
the caller's safe-contact preferences, :mod:`helpline.followups.safe_contact`; quiet and safe
hours, :mod:`helpline.followups.scheduling`.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, object_session

from helpline import audit, crypto, phones
from helpline.config import Settings
from helpline.consent import terms
from helpline.consent.door import (
    CALLER,
    ConsentError,
    consents_for,
    is_live,
    record_consent,
    require_consent,
    withdraw,
)
from helpline.consent.optouts import is_opted_out
from helpline.db import affected_rows, utcnow
from helpline.followups import safe_contact
from helpline.followups.scheduling import (
    FollowUpError,
    caller_timezone,
    in_quiet_hours,
    next_allowed_time,
    next_safe_time,
    outside_safe_hours,
    zone,
)
from helpline.models import Call, Consent, Contact, Referral, User
from helpline.models.followups import (
    CLOSED_STATES,
    OPEN_STATES,
    AttemptResult,
    FollowUp,
    FollowUpAttempt,
    FollowUpKind,
    FollowUpOutcome,
    FollowUpState,
)
from helpline.staff.roles import Action, can

log = logging.getLogger(__name__)

SCHEDULER_ACTOR = "scheduler"
CHANNELS = {"call", "sms"}
KIND_CHANNEL = {
    FollowUpKind.REMINDER: "call",
    FollowUpKind.SMS_CHECKIN: "sms",
    FollowUpKind.BRIDGED_CALLBACK: "call",
}
# handoff: proposed with a warm handoff to treatment intake, to confirm admission.
SOURCES = {"counselor", "ivr_callback", "supervisor", "handoff"}
# The IVR prompt the caller answered; recorded word for word as the consent.
QUEUE_CALLBACK_CONSENT = terms.IVR_CALLBACK_WORDING
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
_RETRY_RESULTS = {AttemptResult.NO_ANSWER, AttemptResult.BUSY, AttemptResult.FAILED,
                  AttemptResult.VOICEMAIL_NOT_LEFT, AttemptResult.NOT_CONFIRMED}
# Twilio's DialCallStatus (caller leg) as an attempt result.
DIAL_STATUS_RESULTS = {
    "completed": AttemptResult.REACHED,
    "answered": AttemptResult.REACHED,
    "busy": AttemptResult.BUSY,
    "no-answer": AttemptResult.NO_ANSWER,
    "canceled": AttemptResult.NO_ANSWER,
    "failed": AttemptResult.FAILED,
}


# --- consent and opt-outs -------------------------------------------------------------------


def withdraw_consent(session: Session, consent: Consent, *, by: User | None,
                     how: str = "caller asked", now: dt.datetime | None = None) -> int:
    """Record that the caller withdrew consent and stop every open follow-up resting on it
    (:func:`helpline.consent.withdraw`). Returns how many follow-ups were stopped."""
    return withdraw(session, consent, by=by, how=how, now=now)


def consent_refusal(session: Session, followup: FollowUp, now: dt.datetime | None = None,
                    timezone: str = "UTC") -> ConsentError | None:
    """Why the follow-up's consent no longer allows contacting the caller (withdrawn,
    expired...), or None. Asked of the consent door, with the consent the follow-up rests on;
    a moment in the reason is given in ``timezone``."""
    try:
        require_consent(session, followup.caller_hash, followup.channel, CALLER, "followup",
                        now or utcnow(), consent=followup.consent, timezone=timezone)
    except ConsentError as exc:
        return exc
    return None


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
    settings: Settings,
    now: dt.datetime | None = None,
    consent: Consent | None = None,
    script_version: str = "",
    consent_until: dt.datetime | None = None,
    referral: Referral | None = None,
) -> FollowUp:
    """Record the caller's consent and a follow-up request resting on it.

    With ``consent`` (a live consent to calls or texts for follow-up, e.g. found for a warm
    handoff), the request rests on it and records none; its number and scope are used.
    Otherwise a consent is recorded with ``consent_wording`` (the script read, version
    ``script_version``), lasting until ``consent_until`` (default CONSENT_DAYS).

    Refused (FollowUpError) without consent wording, without a reachable number, for a kind
    that does not match the channel, for a channel the caller's safe-contact preferences rule
    out, or for texts to a number that opted out (STOP). Counselor, supervisor and handoff
    requests wait for a supervisor to schedule them.
    """
    now = now or utcnow()
    if consent is not None:
        try:
            require_consent(session, consent.caller_hash, consent.scope, CALLER, "followup",
                            now, consent=consent)
        except ConsentError as exc:
            raise FollowUpError(str(exc)) from None
        phone = phone or session.scalar(select(Consent.phone).where(Consent.id == consent.id))
        channel = consent.scope
        consent_wording = consent.wording
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
    if not phone or phone.startswith("client:") or phone.strip().lower() in phones.ANONYMOUS:
        raise FollowUpError("a follow-up needs a number the caller can be reached at")
    try:
        number = phones.to_e164(phone, field="the follow-up number")
    except phones.PhoneNumberError as exc:
        raise FollowUpError(str(exc)) from None
    if channel == "sms" and is_opted_out(session, number):
        raise FollowUpError("this number has opted out of texts (STOP); no text can be sent")
    if window_start and window_end and window_end <= window_start:
        raise FollowUpError("the caller's window ends before it starts")
    unsafe = safe_contact.channel_refusal(
        safe_contact.preferences_for(session, crypto.caller_hash(number)), channel)
    if unsafe:
        raise FollowUpError(unsafe)
    zip_code = zip_code or (contact.zip_code if contact else None) or (
        call.zip_code if call else None)

    if consent is None:
        ivr = source == "ivr_callback"
        try:
            consent = record_consent(
                session, caller_hash=crypto.caller_hash(number), scope=channel,
                purpose="followup", wording=wording, by=requested_by,
                method="ivr_keypress" if ivr else "verbal",
                script_version=terms.IVR_CALLBACK_SCRIPT if ivr else script_version,
                phone=number, contact=contact,
                expires_at=consent_until or now + dt.timedelta(days=settings.consent_days),
                recorded_via="ivr" if ivr else (
                    "supervisor" if source == "supervisor" else "counselor"),
                now=now)
        except ConsentError as exc:
            raise FollowUpError(str(exc)) from None
    followup = FollowUp(
        consent_id=consent.id, referral_id=referral.id if referral else None,
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
    audit.record(session, "followup.request", actor=requested_by or "ivr",
                 record_type="followup", record_id=followup.id,
                 detail={"kind": kind_enum.value, "source": source, "consent_id": consent.id})
    return followup


def request_callback_from_queue(session: Session, call: Call, phone: str | None, *,
                                settings: Settings,
                                now: dt.datetime | None = None) -> FollowUp:
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


# --- who may work on a follow-up, and the caller's number -----------------------------------


def can_work_followup(user: User, followup: FollowUp) -> bool:
    """Supervisors: every follow-up. Counselors: those assigned to them or ringing them, and
    delivered reminders left to the next available counselor (so one can take it on).
    Admins manage accounts and see none."""
    if can(user, Action.MANAGE_FOLLOWUPS):
        return True
    if not can(user, Action.WORK_FOLLOWUPS):
        return False
    if user.id in (followup.assigned_to_id, followup.bridged_to_id):
        return True
    return (followup.assigned_to_id is None and followup.kind == FollowUpKind.REMINDER
            and followup.state == FollowUpState.AWAITING_RESULT)


def read_number(session: Session, viewer: User, followup: FollowUp, address: str | None) -> str:
    """The number the caller consented to be reached at, for ``viewer``; audited. The only
    door to a follow-up's number."""
    return audit.read_sealed(session, viewer, FollowUp.phone, FollowUp.id == followup.id,
                             allowed=can_work_followup(viewer, followup),
                             action="followup.number", record_type="followup",
                             record_id=followup.id, address=address)


# --- supervisor actions ---------------------------------------------------------------------


def _require_open(followup: FollowUp, now: dt.datetime | None = None) -> None:
    if followup.state in CLOSED_STATES:
        raise FollowUpError(f"follow-up {followup.id} is already {followup.state}")
    if followup.consent.withdrawn_at is not None:
        raise FollowUpError(f"the caller withdrew consent for follow-up {followup.id}")
    session = object_session(followup)
    refused = consent_refusal(session, followup, now) if session is not None else None
    if refused is not None:
        raise FollowUpError(str(refused))


def _stuck_clause(now: dt.datetime) -> Any:
    return and_(FollowUp.state == FollowUpState.SENDING,
                FollowUp.claimed_at < now - STUCK_SENDING_AFTER)


def is_stuck(followup: FollowUp, now: dt.datetime | None = None) -> bool:
    """Claimed by a delivery run that never finished: the provider may or may not have been
    called, so only a person may close it (cancel or an outcome), never a retry."""
    now = now or utcnow()
    return (followup.state == FollowUpState.SENDING and followup.claimed_at is not None
            and followup.claimed_at < now - STUCK_SENDING_AFTER)


def local_time(followup: FollowUp, when: dt.datetime) -> dt.datetime:
    """``when`` in the caller's time zone (for display)."""
    return when.astimezone(zone(followup.timezone))


def caller_clock(followup: FollowUp, when: dt.datetime) -> str:
    """``when`` as the caller reads it, e.g. "Wed 11 Mar 08:00 CDT"."""
    local = local_time(followup, when)
    return f"{local:%a %d %b %H:%M} {local.tzname()}"


def safe_hours_of(followup: FollowUp) -> tuple[int, int] | None:
    """The hours the caller said are safe (their zone), from their safe-contact preferences."""
    session = object_session(followup)
    if session is None:
        return None
    return safe_contact.preferences_for(session, followup.caller_hash).safe_hours


def earliest_allowed(followup: FollowUp, after: dt.datetime,
                     settings: Settings) -> dt.datetime | None:
    """The first moment from ``after`` inside the caller's window, outside quiet hours and
    inside the caller's safe hours in their zone, or None when the window has none left."""
    at = max(after, followup.window_start) if followup.window_start else after
    at = next_safe_time(at, followup.timezone, settings, safe_hours_of(followup))
    if followup.window_end and at > followup.window_end:
        return None
    return at


def _refusal(followup: FollowUp, why: str, after: dt.datetime, settings: Settings) -> str:
    nxt = earliest_allowed(followup, after, settings)
    then = (f"the next allowed time is {caller_clock(followup, nxt)}" if nxt
            else "no time is left in the window the caller gave")
    return f"{why}; {then}"


def schedule(session: Session, followup: FollowUp, *, at: dt.datetime, by: User,
             settings: Settings, now: dt.datetime | None = None) -> FollowUp:
    """Set when a follow-up is due. A naive ``at`` is read in the caller's time zone.

    Refused in the past, outside the caller's window or in quiet hours in the caller's zone;
    the message says why and names the next allowed time (in the caller's zone).
    """
    now = now or utcnow()
    _require_open(followup, now)
    if followup.state in (FollowUpState.SENDING, FollowUpState.AWAITING_RESULT):
        raise FollowUpError("this follow-up is being delivered; wait for its result")
    due = at.replace(tzinfo=zone(followup.timezone)) if at.tzinfo is None else at
    due = due.astimezone(dt.UTC)
    if due < now - dt.timedelta(minutes=1):
        raise FollowUpError(_refusal(followup, "that time has already passed", now, settings))
    if followup.window_start and due < followup.window_start:
        raise FollowUpError(_refusal(
            followup, "that is before the window the caller gave (from "
            f"{caller_clock(followup, followup.window_start)})", now, settings))
    if followup.window_end and due > followup.window_end:
        raise FollowUpError(_refusal(
            followup, "that is after the window the caller gave (until "
            f"{caller_clock(followup, followup.window_end)})", now, settings))
    if in_quiet_hours(due, followup.timezone, settings):
        raise FollowUpError(_refusal(
            followup, f"{local_time(followup, due):%H:%M} is in quiet hours for the caller "
            f"({followup.timezone}): no calls or texts from {settings.quiet_hours_start}:00 "
            f"to {settings.quiet_hours_end}:00 their time", due, settings))
    safe_hours = safe_hours_of(followup)
    if outside_safe_hours(due, followup.timezone, safe_hours):
        assert safe_hours is not None
        raise FollowUpError(_refusal(
            followup, f"{local_time(followup, due):%H:%M} is outside the hours the caller said "
            f"are safe ({safe_hours[0]}:00 to {safe_hours[1]}:00 their time)", due, settings))
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
    _require_open(followup, now)
    if counselor is not None and (not counselor.active
                                  or not can(counselor, Action.WORK_FOLLOWUPS)):
        raise FollowUpError("follow-ups go to active counselors or supervisors")
    before = followup.assigned_to_id
    followup.assigned_to_id = counselor.id if counselor else None
    followup.updated_at = now
    session.flush()
    action = "followup.reassign" if before is not None else "followup.assign"
    audit.record(session, action, actor=by, record_type="followup", record_id=followup.id,
                 detail={"from": before, "to": followup.assigned_to_id})
    return followup


def take(session: Session, followup: FollowUp, counselor: User,
         now: dt.datetime | None = None) -> FollowUp:
    """A counselor takes on a follow-up left to the next available one (first come)."""
    now = now or utcnow()
    _require_open(followup, now)
    if not can(counselor, Action.WORK_FOLLOWUPS) or not counselor.active:
        raise FollowUpError("follow-ups go to active counselors or supervisors")
    taken = affected_rows(session.execute(
        update(FollowUp).where(FollowUp.id == followup.id, FollowUp.assigned_to_id.is_(None))
        .values(assigned_to_id=counselor.id, updated_at=now)
        .execution_options(synchronize_session=False)))
    session.refresh(followup)
    if taken != 1:
        raise FollowUpError("someone else has already taken this follow-up")
    audit.record(session, "followup.take", actor=counselor, record_type="followup",
                 record_id=followup.id)
    return followup


#: Why a supervisor cancels: fixed wording, so that no caller detail reaches the audit log.
CANCEL_REASONS = {
    "reached_otherwise": "The caller was reached another way",
    "duplicate": "A duplicate of another follow-up",
    "in_error": "Requested in error",
    "caller_declined": "The caller no longer wants contact",
    "no_longer_needed": "No longer needed",
}


def cancel(session: Session, followup: FollowUp, *, by: User | None, reason: str = "",
           now: dt.datetime | None = None) -> FollowUp:
    """Cancel an open follow-up: not while a delivery run holds it, unless that run is stuck."""
    now = now or utcnow()
    cancellable = [s for s in OPEN_STATES if s != FollowUpState.SENDING]
    changed = affected_rows(session.execute(
        update(FollowUp)
        .where(FollowUp.id == followup.id,
               or_(FollowUp.state.in_(cancellable), _stuck_clause(now)))
        .values(state=FollowUpState.CANCELLED, outcome=FollowUpOutcome.CANCELLED,
                closed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    ))
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
    if followup.state == FollowUpState.SENDING and not is_stuck(followup, now):
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


def apply_attempt_result(followup: FollowUp, result: AttemptResult, settings: Settings,
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
    apply_attempt_result(followup, result_enum, settings, now, outcome)
    session.flush()
    audit.record(session, "followup.attempt", actor=by or "twilio", record_type="followup",
                 record_id=followup.id,
                 detail={"result": result_enum.value, "via": via, "state": followup.state})
    if result_enum == AttemptResult.OPTED_OUT:
        _withdraw_channel(session, followup, by, now)
    return attempt


def _withdraw_channel(session: Session, followup: FollowUp, by: User | None,
                      now: dt.datetime) -> None:
    """A caller who asks not to be contacted again means every follow-up on that channel,
    not only this one: each of their live consents for it is withdrawn (which stops the
    follow-ups resting on them)."""
    for given in consents_for(session, followup.caller_hash):
        if given.scope == followup.channel and is_live(given, now):
            withdraw(session, given, by=by, how="opted out on a follow-up", now=now)


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


# --- moved out -----------------------------------------------------------------------------

# The lists and the delivery have modules of their own; their names stay importable from here.
