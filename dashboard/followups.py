"""Follow-ups: the supervisor's console (/followups) and a follow-up's page, where supervisors
schedule, assign, cancel and close it, and the counselor it is for records each attempt.

Thin views over :mod:`helpline.followups` and :mod:`helpline.followup_lists`. The caller's
number is shown only on demand, through the audited :func:`helpline.followups.read_number`.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from dashboard.access import client_address, current_user, load_followup, permission_required
from dashboard.blueprint import blueprint
from dashboard.followup_labels import ACTIONS, OUTCOMES, RESULTS, STAFF_OUTCOMES, SYSTEM_RESULTS
from dashboard.forms import InputError, choice_arg, datetime_field, id_arg, id_field
from dashboard.safe_contact import panel_context
from helpline import audit
from helpline.app.runtime import db_session, runtime, settings
from helpline.consent import terms
from helpline.db import utcnow
from helpline.followups import lifecycle, limits, safe_contact
from helpline.followups.delivery import checkin_text
from helpline.followups.lists import (
    VIEWS,
    ConsoleFilters,
    console_counts,
    console_list,
    dismiss_notices_of,
)
from helpline.followups.scheduling import FollowUpError
from helpline.models import AuditEvent, OutboxMessage, Referral, User
from helpline.models.followups import (
    FollowUp,
    FollowUpAttempt,
    FollowUpKind,
    FollowUpNotice,
    FollowUpState,
)
from helpline.staff.roles import Action, can, roles_for

LOCAL_INPUT = "%Y-%m-%dT%H:%M"  # <input type="datetime-local">


def _me() -> User:
    user = current_user()
    assert user is not None  # the sign-in gate and permission_required ran first
    return user


def _staff(session: Session) -> dict[int, str]:
    return dict(session.execute(select(User.id, User.display_name)).all())


def _assignable(session: Session) -> list[User]:
    return list(session.scalars(select(User).where(
        User.active.is_(True), User.role.in_(roles_for(Action.WORK_FOLLOWUPS)))
        .order_by(User.display_name, User.id)))


def _filters() -> ConsoleFilters:
    unassigned = request.args.get("counselor") == "none"
    return ConsoleFilters(
        counselor_id=None if unassigned else id_arg("counselor"),
        unassigned=unassigned,
        kind=choice_arg("kind", [str(k) for k in FollowUpKind]),
        state=choice_arg("state", [str(s) for s in FollowUpState]),
    )


@blueprint.get("/followups")
@permission_required(Action.MANAGE_FOLLOWUPS)
def followups_console() -> str:
    """The lists a supervisor works through: requests, due, overdue, scheduled, done."""
    db = db_session()
    view = choice_arg("view", list(VIEWS), "requested") or "requested"
    filters = _filters()
    now = utcnow()
    args = {k: v for k, v in request.args.items() if k in ("counselor", "kind", "state") and v}
    return render_template(
        "followups/console.html", view=view, views=VIEWS, args=args,
        counts=console_counts(db, filters, now), rows=console_list(db, view, filters, now),
        staff=_staff(db), assignable=_assignable(db), now=now)


def _history(db: Session, followup: FollowUp) -> list[AuditEvent]:
    return list(db.scalars(
        select(AuditEvent).where(or_(
            and_(AuditEvent.record_type == "followup",
                 AuditEvent.record_id == str(followup.id)),
            and_(AuditEvent.record_type == "consent",
                 AuditEvent.record_id == str(followup.consent_id))))
        .order_by(AuditEvent.id.desc()).limit(100)))


def followup_extras(followup: FollowUp, user: User) -> dict[str, object]:
    """What the consent, safe-contact and closed-loop parts of the page need: the
    consent's state through the door, the caller's preferences, the record's referrals."""
    db = db_session()
    refused = lifecycle.consent_refusal(db, followup, timezone=settings().default_timezone)
    prefs = safe_contact.preferences_for(db, followup.caller_hash)
    referrals = list(db.scalars(select(Referral).where(
        Referral.contact_id == followup.contact_id).order_by(Referral.id))
    ) if followup.contact_id else []
    return {
        "consent_refused": str(refused) if refused else None, "terms": terms,
        "checkin": checkin_text(settings(), safe_contact.name_to_use(prefs, settings())),
        "referrals": referrals, "raise_reasons": limits.RAISE_REASONS,
        "hard_cap": limits.HARD_CAP,
        **panel_context(followup.caller_hash,
                        url_for("dashboard.safe_contact_followup", followup_id=followup.id),
                        url_for("dashboard.ask_for_followup", followup_id=followup.id)),
    }


def _page(followup: FollowUp, number: str | None = None) -> str:
    user = _me()
    db = db_session()
    now = utcnow()
    attempts = list(db.scalars(select(FollowUpAttempt).where(
        FollowUpAttempt.followup_id == followup.id).order_by(FollowUpAttempt.id)))
    outbox_ids = [a.outbox_id for a in attempts if a.outbox_id]
    outbox = list(db.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(outbox_ids))
                             .order_by(OutboxMessage.id))) if outbox_ids else []
    notices = list(db.scalars(select(FollowUpNotice).where(
        FollowUpNotice.followup_id == followup.id).order_by(FollowUpNotice.id)))
    earliest = lifecycle.earliest_allowed(followup, now, settings())
    # The form offers the current time when rescheduling, else the earliest allowed.
    offered = followup.due_at if followup.due_at and followup.due_at > now else earliest
    return render_template(
        "followups/detail.html", fu=followup, user=user, number=number, attempts=attempts,
        outbox=outbox, notices=notices, history=_history(db, followup), staff=_staff(db),
        assignable=_assignable(db) if can(user, Action.MANAGE_FOLLOWUPS) else [],
        earliest=earliest, offered_input=(
            lifecycle.local_time(followup, offered).strftime(LOCAL_INPUT) if offered else ""),
        stuck=lifecycle.is_stuck(followup, now), telephony=runtime().telephony.name,
        cancel_reasons=lifecycle.CANCEL_REASONS, results=RESULTS, outcomes=OUTCOMES,
        staff_outcomes=STAFF_OUTCOMES, actions=ACTIONS, settings=settings(), now=now,
        counselor=db.get(User, followup.bridged_to_id or followup.assigned_to_id or 0),
        **followup_extras(followup, user))


@blueprint.get("/followups/<int:followup_id>")
@permission_required(Action.WORK_FOLLOWUPS)
def followup_page(followup_id: int) -> str:
    followup = load_followup(followup_id)
    user = _me()
    db = db_session()
    audit.record(db, "followup.view", actor=user, record_type="followup",
                 record_id=followup.id, address=client_address())
    dismiss_notices_of(db, followup.id, user)
    return _page(followup)


@blueprint.post("/followups/<int:followup_id>/number")
@permission_required(Action.WORK_FOLLOWUPS)
def followup_number(followup_id: int) -> str:
    """The caller's number, on demand and audited (an HTMX fragment, or the whole page)."""
    followup = load_followup(followup_id)
    db = db_session()
    number = lifecycle.read_number(db, _me(), followup, client_address())
    if request.headers.get("HX-Request"):
        return render_template("followups/_number.html", number=number)
    return _page(followup, number=number)


def _done(followup_id: int, message: str | None = None) -> Response:
    if message:
        flash(message, "info")
    return redirect(url_for("dashboard.followup_page", followup_id=followup_id))


def _refused(followup_id: int, exc: Exception) -> Response:
    db_session().rollback()  # the redirect below is a success to the transaction rule
    flash(f"Not done: {exc}.", "error")
    return redirect(url_for("dashboard.followup_page", followup_id=followup_id))


@blueprint.post("/followups/<int:followup_id>/schedule")
@permission_required(Action.MANAGE_FOLLOWUPS)
def followup_schedule(followup_id: int) -> Response:
    """A date and time read in the caller's time zone."""
    followup = load_followup(followup_id)
    try:
        at = datetime_field("at")
        if at is None:
            raise ValueError("give a date and a time")
        lifecycle.schedule(db_session(), followup, at=at, by=_me(), settings=settings())
    except ValueError as exc:
        return _refused(followup_id, exc)
    except FollowUpError as exc:
        return _refused(followup_id, exc)
    assert followup.due_at is not None
    return _done(followup_id, f"Scheduled for {lifecycle.caller_clock(followup, followup.due_at)}"
                 " (the caller's time).")


@blueprint.post("/followups/<int:followup_id>/assign")
@permission_required(Action.MANAGE_FOLLOWUPS)
def followup_assign(followup_id: int) -> Response:
    followup = load_followup(followup_id)
    db = db_session()
    try:
        counselor_id = id_field("counselor")
    except InputError:
        return _refused(followup_id, FollowUpError("choose someone from the list"))
    counselor = db.get(User, counselor_id) if counselor_id is not None else None
    if counselor_id is not None and counselor is None:
        return _refused(followup_id, FollowUpError("choose someone from the list"))
    try:
        lifecycle.assign(db, followup, counselor, by=_me())
    except FollowUpError as exc:
        return _refused(followup_id, exc)
    return _done(followup_id, f"Assigned to {counselor.display_name}." if counselor
                 else "Left to the next available counselor.")


@blueprint.post("/followups/<int:followup_id>/cancel")
@permission_required(Action.MANAGE_FOLLOWUPS)
def followup_cancel(followup_id: int) -> Response:
    followup = load_followup(followup_id)
    reason = request.form.get("reason", "")
    if reason not in lifecycle.CANCEL_REASONS:
        return _refused(followup_id, FollowUpError("choose why it is cancelled"))
    try:
        lifecycle.cancel(db_session(), followup, by=_me(), reason=reason)
    except FollowUpError as exc:
        return _refused(followup_id, exc)
    return _done(followup_id, "Cancelled.")


@blueprint.post("/followups/<int:followup_id>/withdraw-consent")
@permission_required(Action.MANAGE_FOLLOWUPS)
def followup_withdraw_consent(followup_id: int) -> Response:
    followup = load_followup(followup_id)
    if request.form.get("confirm") != "1":
        return _refused(followup_id, FollowUpError(
            "tick the box to confirm the caller withdrew consent"))
    lifecycle.withdraw_consent(db_session(), followup.consent, by=_me(),
                               how="told a staff member")
    return _done(followup_id, "Consent withdrawn: nothing more will be sent on it.")


@blueprint.post("/followups/<int:followup_id>/attempt")
@permission_required(Action.WORK_FOLLOWUPS)
def followup_attempt(followup_id: int) -> Response:
    """How a call went (a reminder's, or a callback whose result did not come back)."""
    followup = load_followup(followup_id)
    result = request.form.get("result", "")
    outcome = request.form.get("outcome") or None
    if result not in RESULTS or result in SYSTEM_RESULTS:
        return _refused(followup_id, FollowUpError("choose how the call went"))
    if outcome is not None and outcome not in STAFF_OUTCOMES:
        return _refused(followup_id, FollowUpError("choose an outcome from the list"))
    try:
        lifecycle.record_attempt(db_session(), followup, result, by=_me(),
                                 settings=settings(), outcome=outcome)
    except FollowUpError as exc:
        return _refused(followup_id, exc)
    message = "Recorded."
    if followup.state == FollowUpState.RETRY and followup.due_at is not None:
        again = lifecycle.caller_clock(followup, followup.due_at)
        message += f" It will be tried again at {again} (the caller's time)."
    elif result == "opted_out":
        channel = "calls" if followup.channel == "call" else "texts"
        message += (f" Their consent to follow-up {channel} is withdrawn: no other follow-up "
                    f"{channel} will go to them.")
    return _done(followup_id, message)


@blueprint.post("/followups/<int:followup_id>/outcome")
@permission_required(Action.WORK_FOLLOWUPS)
def followup_outcome(followup_id: int) -> Response:
    followup = load_followup(followup_id)
    outcome = request.form.get("outcome", "")
    if outcome not in STAFF_OUTCOMES:
        return _refused(followup_id, FollowUpError("choose an outcome from the list"))
    try:
        lifecycle.set_outcome(db_session(), followup, outcome, by=_me())
    except FollowUpError as exc:
        return _refused(followup_id, exc)
    return _done(followup_id, "Outcome recorded.")


@blueprint.post("/followups/<int:followup_id>/take")
@permission_required(Action.WORK_FOLLOWUPS)
def followup_take(followup_id: int) -> Response:
    """A counselor takes on a reminder left to the next available counselor."""
    followup = load_followup(followup_id)
    db = db_session()
    user = _me()
    try:
        lifecycle.take(db, followup, user)
    except FollowUpError as exc:
        return _refused(followup_id, exc)
    dismiss_notices_of(db, followup.id, user, include_role=True)
    return _done(followup_id, "It is yours: call the caller and record how it went.")
