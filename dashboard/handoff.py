"""Warm handoff and closed-loop referrals on the dashboard.

* ``/records/<id>/referrals/<rid>/handoff``: the center's intake line, the caller's consent to
  share with that provider (recorded here, from the versioned script, if missing), what may be
  said with the §2.32 notice, and the button that conferences intake in.
* Referral outcomes, set from the record (its referrals panel) or from a follow-up's page.

Thin views over :mod:`helpline.handoff`, :mod:`helpline.consent` and
:mod:`helpline.referral_outcomes`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from dashboard.access import (
    client_address,
    current_user,
    load_followup,
    load_visible_contact,
    refuse,
)
from dashboard.blueprint import blueprint
from dashboard.forms import date_field
from helpline import audit
from helpline.app.runtime import db_session, runtime, settings
from helpline.consent import door, terms
from helpline.db import utcnow
from helpline.directory import capacity
from helpline.models import Call, Contact, FollowUp, Referral, User
from helpline.records import contacts
from helpline.referrals import fhir, handoff, outcomes

PROVIDER_CODES = ("seeking_treatment", "substances", "screening", "insurance", "age_range",
                  "location")


@blueprint.app_context_processor
def _referral_outcome_labels() -> dict[str, Any]:
    """The outcome words every referral list can show (record panel, follow-up page)."""
    return {"ro_outcomes": outcomes.OUTCOMES,
            "ro_reasons": outcomes.NOT_ADMITTED_REASONS}


def _me() -> User:
    user = current_user()
    assert user is not None
    return user


def _referral(contact: Contact, referral_id: int) -> Referral:
    for referral in contact.referrals:
        if referral.id == referral_id:
            return referral
    refuse("referral.refused", "referral", referral_id)


def _until_text(expires: dt.datetime | None, event: str | None) -> str:
    parts = []
    if expires is not None:
        # A consent lasts to the end of its last day: name that day.
        local = (expires - dt.timedelta(seconds=1)).astimezone(
            ZoneInfo(settings().default_timezone))
        parts.append(f"on {local:%B %d, %Y}")
    if event:
        parts.append(terms.EXPIRY_EVENTS[event].lower())
    return " or ".join(parts) or "when you withdraw it"


def provider_script(center_name: str, codes: list[str] | tuple[str, ...],
                    expires: dt.datetime | None, event: str | None) -> str:
    return terms.script_text(
        "provider-1", helpline=settings().helpline_name, recipient=center_name,
        information=terms.information_phrase(codes), until=_until_text(expires, event))


@blueprint.get("/records/<int:contact_id>/referrals/<int:referral_id>/handoff")
def handoff_page(contact_id: int, referral_id: int) -> str:
    contact = load_visible_contact(contact_id)
    referral = _referral(contact, referral_id)
    db = db_session()
    now = utcnow()
    try:
        center = handoff.center_of(db, referral)
    except handoff.HandoffError:
        abort(404)
    refusal = None
    live = None
    try:
        live = handoff.provider_consent(db, referral, now,
                                        timezone=settings().default_timezone)
    except door.ConsentError as exc:
        refusal = str(exc)
    call = db.get(Call, contact.call_id) if contact.call_id else None
    zone = ZoneInfo(settings().default_timezone)
    default_day = (now + dt.timedelta(days=settings().consent_days)).astimezone(zone).date()
    default_end = dt.datetime.combine(default_day + dt.timedelta(days=1), dt.time(), zone)
    audit.record(db, "referral.handoff.view", actor=_me(), record_type="referral",
                 record_id=referral.id, address=client_address())
    html = render_template(
        "consents/handoff.html", contact=contact, referral=referral, center=center,
        intake=handoff.intake_number(center), capacity_note=capacity.summary(center),
        live=live, refusal=refusal, terms=terms,
        editable=contacts.can_edit_contact(_me(), contact),
        on_the_line=call is not None and call.ended_at is None,
        summary=handoff.summary_lines(db, contact, live, center.name, settings(), now)
        if live else None,
        script=provider_script(center.name, terms.DEFAULT_INFORMATION[
            ("provider", "treatment_intake")], default_end, "referral_closed"),
        codes=PROVIDER_CODES, default_until=default_day.isoformat(),
        followup=db.scalar(select(FollowUp).where(FollowUp.referral_id == referral.id)
                           .order_by(FollowUp.id.desc()).limit(1)),
        names=dict(db.execute(select(User.id, User.display_name)).all()),
        outcomes=outcomes.OUTCOMES)
    return html


def _back(contact_id: int, referral_id: int) -> Response:
    return redirect(url_for("dashboard.handoff_page", contact_id=contact_id,
                            referral_id=referral_id))


@blueprint.post("/records/<int:contact_id>/referrals/<int:referral_id>/consent")
def record_provider_consent(contact_id: int, referral_id: int) -> Response:
    """The caller agreed, on the phone, to share the chosen details with this center."""
    contact = load_visible_contact(contact_id)
    referral = _referral(contact, referral_id)
    db = db_session()
    if not contacts.can_edit_contact(_me(), contact):
        flash("This record is closed or not yours to edit.", "error")
        return _back(contact_id, referral_id)
    codes = [c for c in request.form.getlist("information") if c in PROVIDER_CODES]
    event = "referral_closed" if request.form.get("until_event") == "1" else None
    try:
        if request.form.get("attest") != "1":
            raise door.ConsentError("tick the box to attest that you read the words and the "
                                       "caller agreed")
        until = date_field("until")
        expires = (dt.datetime.combine(until + dt.timedelta(days=1),
                                       dt.time(), ZoneInfo(settings().default_timezone))
                   .astimezone(dt.UTC) if until else None)
        if expires is None and event is None:
            raise door.ConsentError("give a date, or the event, when the consent ends")
        center = handoff.center_of(db, referral)
        door.record_consent(
            db, caller_hash=contact.caller_hash, scope="provider", purpose=handoff.PURPOSE,
            wording=provider_script(center.name, codes, expires, event),
            script_version="provider-1", by=_me(), contact=contact,
            recipient=handoff.recipient(center), information=codes, expires_at=expires,
            expiry_event=event)
    except (door.ConsentError, handoff.HandoffError, ValueError) as exc:
        db.rollback()  # the redirect below is a success to the transaction rule
        flash(f"Consent not recorded: {exc}.", "error")
        return _back(contact_id, referral_id)
    flash("Consent recorded: you may now conference the intake line.", "info")
    return _back(contact_id, referral_id)


@blueprint.post("/records/<int:contact_id>/referrals/<int:referral_id>/handoff")
def start_handoff(contact_id: int, referral_id: int) -> Response:
    contact = load_visible_contact(contact_id)
    referral = _referral(contact, referral_id)
    db = db_session()
    rt = runtime()
    try:
        result = handoff.warm_handoff(db, referral, _me(), rt.telephony, rt.settings)
    except (handoff.HandoffError, door.ConsentError) as exc:
        db.rollback()  # the redirect below is a success to the transaction rule
        flash(f"Not handed off: {exc}.", "error")
        return _back(contact_id, referral_id)
    if rt.telephony.name == "outbox":
        flash("Handed off. Twilio is not connected: the conference call is recorded in the "
              "outbox instead.", "info")
    else:
        flash("Intake is being dialed into a conference with you and the caller.", "info")
    if result.followup is not None:
        flash(f"Follow-up #{result.followup.id} to confirm admission was proposed; a "
              "supervisor will schedule it.", "info")
    elif result.no_followup_because:
        flash(result.no_followup_because, "error")
    return _back(contact_id, referral_id)


@blueprint.post("/records/<int:contact_id>/referrals/<int:referral_id>/fhir")
def export_fhir_referral(contact_id: int, referral_id: int) -> Response:
    """Download the referral as a FHIR Bundle for the center, through the consent door (the
    export is a disclosure, logged)."""
    contact = load_visible_contact(contact_id)
    referral = _referral(contact, referral_id)
    db = db_session()
    try:
        sent = fhir.export_referral(db, referral, _me(), settings())
    except (fhir.FhirExportError, door.ConsentError) as exc:
        db.rollback()  # the redirect below is a success to the transaction rule
        flash(f"Referral not sent: {exc}.", "error")
        return _back(contact_id, referral_id)
    except PermissionError:
        db.rollback()  # the refusal stores its audit event, and only that
        refuse("referral.refused", "referral", referral.id)
    response = Response(sent.json(), mimetype="application/fhir+json")
    response.headers["Content-Disposition"] = f'attachment; filename="{sent.filename}"'
    return response


# --- outcomes ------------------------------------------------------------------------------


def _record_outcome(referral: Referral, followup: FollowUp | None) -> str | None:
    """Record the posted outcome; returns an error message or None."""
    db = db_session()
    try:
        outcomes.record_outcome(
            db, referral, request.form.get("outcome", ""), by=_me(),
            reason=request.form.get("reason") or None, followup=followup)
    except outcomes.OutcomeError as exc:
        db.rollback()  # answered with a redirect, a success to the transaction rule
        return str(exc)
    except PermissionError:
        db.rollback()  # the refusal stores its audit event, and only that
        refuse("referral.refused", "referral", referral.id)
    return None


@blueprint.post("/records/<int:contact_id>/referrals/<int:referral_id>/outcome")
def referral_outcome_record(contact_id: int, referral_id: int) -> Response:
    contact = load_visible_contact(contact_id)
    error = _record_outcome(_referral(contact, referral_id), None)
    flash(f"Outcome not recorded: {error}." if error else "Referral outcome recorded.",
          "error" if error else "info")
    return redirect(url_for("dashboard.record", contact_id=contact_id) + "#referrals-panel")


@blueprint.post("/followups/<int:followup_id>/referrals/<int:referral_id>/outcome")
def referral_outcome_followup(followup_id: int, referral_id: int) -> Response:
    followup = load_followup(followup_id)
    referral = db_session().get(Referral, referral_id)
    if referral is None or referral.contact_id != followup.contact_id:
        refuse("referral.refused", "referral", referral_id)
    error = _record_outcome(referral, followup)
    flash(f"Outcome not recorded: {error}." if error else "Referral outcome recorded.",
          "error" if error else "info")
    return redirect(url_for("dashboard.followup_page", followup_id=followup_id))
