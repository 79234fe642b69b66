"""The overdose protocol page of a record: one page, five steps, every step timed.

Plain forms (POST, then back to the page at the next step), so each step works from the
keyboard without script. The protocol lives on the server: a counselor can go back to the
record and return without losing anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from dashboard import words
from dashboard.access import can_read_notes, client_address, current_user, load_visible_contact
from dashboard.blueprint import blueprint
from helpline import audit
from helpline.app.runtime import db_session, runtime, settings
from helpline.models import Contact, OverdoseProtocol, User
from helpline.records import contacts, overdose, overdose_guidance


def _protocol_of(contact: Contact) -> OverdoseProtocol:
    protocol = overdose.protocol_for(db_session(), contact)
    if protocol is None:
        abort(404)
    return protocol


def _back(contact_id: int) -> Response:
    # No #fragment: browsers skip autofocus on a URL with one, and the next step's field
    # (autofocus) is where the counselor goes on. The guidance stays in the chosen language.
    lang = request.form.get("lang")
    return redirect(url_for("dashboard.overdose_protocol", contact_id=contact_id,
                            lang=lang if lang in overdose_guidance.LANGUAGES else None))


def _next_step(protocol: OverdoseProtocol) -> str:
    """Where the counselor is: the first step not yet done (its field gets the focus)."""
    done = {s.step for s in protocol.steps}
    if protocol.ended_at is not None:
        return "aftercare"
    if "location_confirmed" not in done:
        return "location"
    if "emergency_dialed" not in done and "emergency_outcome" not in done:
        return "connect"
    if "emergency_outcome" not in done:
        return "emergency_outcome"
    if "disclosure_recorded" not in done and any(
            s.step == "emergency_outcome" and s.outcome == "ems_reached" for s in protocol.steps):
        return "disclosure"
    return "guidance"


def clock(when: dt.datetime | None) -> str:
    return words.clock(when, "time_seconds")


def _elapsed(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"+{seconds // 60}:{seconds % 60:02d}"


@blueprint.get("/records/<int:contact_id>/overdose")
def overdose_protocol(contact_id: int) -> str:
    user = current_user()
    assert user is not None
    db = db_session()
    contact = load_visible_contact(contact_id)
    protocol = _protocol_of(contact)
    audit.record(db, "overdose.view", actor=user, record_type="contact", record_id=contact.id,
                 address=client_address())
    location = None
    if protocol.location_kind is not None and can_read_notes(user, contact):
        location = overdose.read_location(db, user, protocol, contact, client_address())
    people = {u.id: u.display_name or u.username for u in db.query(User).filter(
        User.id.in_({s.by_id for s in protocol.steps if s.by_id}))}
    lang = request.args.get("lang")
    lang = lang if lang in overdose_guidance.LANGUAGES else protocol.language
    disclosures = overdose.emergency_disclosures(db, contact_id=contact.id)
    window = overdose.followup_window(protocol, settings().default_timezone)
    followup = overdose.followup_requested(db, protocol)
    s = settings()
    return render_template(
        "dashboard/overdose.html", contact=contact, protocol=protocol, location=location,
        people=people, lang=lang, o=overdose, guidance=overdose_guidance.guidance(lang),
        after_care=overdose_guidance.after_care(lang), languages=overdose_guidance.LANGUAGES,
        disclosures=disclosures, followup_window=window, followup=followup,
        editable=contacts.can_edit_contact(user, contact), next_step=_next_step(protocol),
        emergency_number=s.emergency_number,
        emergency_area=s.emergency_area or "the helpline's registered address",
        clock=clock, elapsed=_elapsed, done={st.step for st in protocol.steps},
        timezone=s.default_timezone)


Step = Callable[[Session, OverdoseProtocol, Contact, User], "str | None"]


def _act(contact_id: int, action: Step) -> Response:
    """Run one protocol step for the signed-in counselor; errors come back as a message."""
    user = current_user()
    assert user is not None
    contact = load_visible_contact(contact_id)
    protocol = _protocol_of(contact)
    db = db_session()
    try:
        message = action(db, protocol, contact, user)
    except overdose.ProtocolError as exc:
        db.rollback()  # the redirect below is a success to the transaction rule
        flash(f"Not recorded: {exc}.", "error")
        return _back(contact_id)
    if message:
        flash(message, "info")
    return _back(contact_id)


@blueprint.post("/records/<int:contact_id>/overdose/start")
def overdose_start(contact_id: int) -> Response:
    """The counselor marks an overdose in progress: the record switches to the protocol."""
    user = current_user()
    assert user is not None
    contact = load_visible_contact(contact_id)
    db = db_session()
    try:
        overdose.start_protocol(db, contact, user, source="counselor")
    except overdose.ProtocolError as exc:
        db.rollback()  # the redirect below is a success to the transaction rule
        flash(f"Not started: {exc}.", "error")
        return redirect(url_for("dashboard.record", contact_id=contact_id))
    return redirect(url_for("dashboard.overdose_protocol", contact_id=contact_id))


@blueprint.post("/records/<int:contact_id>/overdose/location")
def overdose_location(contact_id: int) -> Response:
    form = request.form

    def confirm(db: Session, p: OverdoseProtocol, c: Contact, u: User) -> str | None:
        overdose.confirm_location(db, p, c, u, kind=form.get("kind", ""),
                                  location=form.get("location"))
        return None

    return _act(contact_id, confirm)


@blueprint.post("/records/<int:contact_id>/overdose/connect")
def overdose_connect(contact_id: int) -> Response:
    rt = runtime()

    def connect(db: Session, p: OverdoseProtocol, c: Contact, u: User) -> str | None:
        legs = overdose.connect_emergency(db, p, c, u, rt.telephony, rt.settings)
        if legs[-1].status == "failed":
            return (f"The call to {rt.settings.emergency_number} failed: dial it yourself "
                    "and give the caller's location.")
        return f"{rt.settings.emergency_number} is being connected. Stay on the line."

    return _act(contact_id, connect)


@blueprint.post("/records/<int:contact_id>/overdose/emergency-outcome")
def overdose_emergency_outcome(contact_id: int) -> Response:
    def record(db: Session, p: OverdoseProtocol, c: Contact, u: User) -> str | None:
        overdose.record_emergency_outcome(db, p, c, u, request.form.get("outcome", ""))
        return None

    return _act(contact_id, record)


@blueprint.post("/records/<int:contact_id>/overdose/disclosure")
def overdose_disclosure(contact_id: int) -> Response:
    form = request.form

    def disclose(db: Session, p: OverdoseProtocol, c: Contact, u: User) -> str | None:
        overdose.record_disclosure(
            db, p, c, u, recipient_name=form.get("recipient_name", ""),
            recipient_affiliation=form.get("recipient_affiliation", ""),
            nature=form.get("nature", ""), information=form.getlist("information"))
        return "Disclosure recorded."

    return _act(contact_id, disclose)


@blueprint.post("/records/<int:contact_id>/overdose/mark")
def overdose_mark(contact_id: int) -> Response:
    def done(db: Session, p: OverdoseProtocol, c: Contact, u: User) -> str | None:
        overdose.mark(db, p, c, u, request.form.get("action", ""))
        return None

    return _act(contact_id, done)


@blueprint.post("/records/<int:contact_id>/overdose/end")
def overdose_end(contact_id: int) -> Response:
    def end(db: Session, p: OverdoseProtocol, c: Contact, u: User) -> str | None:
        overdose.end_emergency(db, p, c, u, request.form.get("outcome", ""))
        return "Emergency closed. A follow-up is proposed below: ask the caller first."

    return _act(contact_id, end)
