"""The call record: screen pop, autosaved draft, wrap-up. Notes only through read_notes."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from dashboard import call_control
from dashboard import overdose as overdose_views
from dashboard import safe_contact as safe_contact_views
from dashboard import screening as screening_views
from dashboard.access import can_read_notes, client_address, current_user, load_visible_contact
from dashboard.blueprint import blueprint
from helpline import audit
from helpline.app.runtime import db_session, settings
from helpline.consent.door import CALLER
from helpline.consent.on_file import OnFile, on_file
from helpline.db import utcnow
from helpline.followups import on_record
from helpline.models import Call, Contact, ContactStatus, User
from helpline.records import contacts, overdose
from helpline.referrals import texts

LIST_FIELDS = ("substances", "crisis_steps")


def _notes_for(user: User, contact: Contact) -> str | None:
    if not can_read_notes(user, contact):
        return None
    return contacts.read_notes(db_session(), user, contact, client_address())


def call_state(contact: Contact, call: Call | None) -> str:
    """Where the call stands, in words, for the record's header."""
    if contact.status == ContactStatus.CLOSED:
        return "Record closed"
    if call is None:
        return "No phone call (record opened by hand)"
    if call.ended_at is not None:
        return "Call ended: finish the record and wrap up"
    if call.answered_at is not None:
        return "On the call"
    return "Connecting the caller"


def _texting_on_file(contact: Contact) -> OnFile:
    return on_file(db_session(), contact.caller_hash, "sms", CALLER, "referral")


@blueprint.get("/records/<int:contact_id>")
def record(contact_id: int) -> str | Response:
    user = current_user()
    assert user is not None
    db = db_session()
    contact = load_visible_contact(contact_id)
    if overdose.start_if_heard_by_ivr(db, contact, user) is not None:
        # Screen pop of a call on which the phone menu heard an overdose: the protocol first.
        return redirect(url_for("dashboard.overdose_protocol", contact_id=contact.id))
    call = db.get(Call, contact.call_id) if contact.call_id else None
    caller_id_verified = call is not None and call.caller_id_verified
    # Whether this screen pop could open earlier contacts' notes: the caller ID's proof.
    audit.record(db, "contact.view", actor=user, record_type="contact", record_id=contact.id,
                 address=client_address(),
                 detail={"caller_id": "verified" if caller_id_verified else "unverified",
                         "attestation": call.caller_attestation if call else None})
    notes = _notes_for(user, contact)
    reasons = (contacts.read_reasons(db, user, contact, client_address())
               if can_read_notes(user, contact) else {})
    # Back from a wrap-up refused without HTMX: what is still missing, next to Wrap up.
    wrap_up_missing = ([contacts.WRAP_UP_NEEDS[code]
                        for code in contacts.missing_for_wrap_up(db, contact)]
                       if request.args.get("wrap_up") == "refused" else [])
    earlier = [(c, _notes_for(user, c)) for c in contacts.earlier_contacts(db, contact)]
    # Notes kept from view because the number is unproven (not because of the viewer's role).
    earlier_notes_hidden = not caller_id_verified and any(n is None for _, n in earlier)
    counselors = {u.id: u.display_name for u in db.query(User).filter(
        User.id.in_({c.counselor_id for c, _ in earlier} | {contact.counselor_id}))}
    protocol = overdose.protocol_for(db, contact)
    screening_panel = screening_views.panel_context(contact, user)
    safe_contact_panel = safe_contact_views.panel_context(
        contact.caller_hash, url_for("dashboard.safe_contact_record", contact_id=contact.id),
        url_for("dashboard.ask_for_record", contact_id=contact.id))
    texting = _texting_on_file(contact)
    followups = on_record.for_record(db, contact)
    staff_ids = {f.requested_by_id for f in followups} | {f.bridged_to_id for f in followups}
    if texting.consent is not None:
        staff_ids.add(texting.consent.recorded_by_id)
    staff = {u.id: u.display_name for u in db.query(User).filter(
        User.id.in_({i for i in staff_ids if i is not None}))}
    return render_template(
        "dashboard/record.html", contact=contact, call=call, notes=notes, earlier=earlier,
        reasons=reasons, wrap_up_missing=wrap_up_missing, wrap_up_error=None,
        earlier_notes_hidden=earlier_notes_hidden,
        counselors=counselors, editable=contacts.can_edit_contact(user, contact), c=contacts,
        protocol=protocol, protocol_clock=protocol and overdose_views.clock(protocol.started_at),
        texting=texting, texting_script=texts.script(settings()),
        texting_version=texts.SCRIPT_VERSION, staff=staff, followups=followups,
        open_followups=[f for f in followups if on_record.is_open(f)],
        call_state=call_state(contact, call), **screening_panel, **safe_contact_panel,
        **call_control.bar_context(contact, call, user))


@blueprint.post("/records/<int:contact_id>/draft")
def save_draft(contact_id: int) -> str | tuple[str, int]:
    """Autosave (HTMX, debounced): every field present in the form is saved."""
    user = current_user()
    assert user is not None
    contact = load_visible_contact(contact_id)
    form: dict[str, object] = {k: request.form.get(k) for k in request.form
                               if k not in LIST_FIELDS and k != "csrf_token"}
    for name in LIST_FIELDS:
        if f"{name}_present" in request.form:
            form[name] = request.form.getlist(name)
    # The texting box records (or withdraws) a consent, through the consent door.
    texting = (request.form.get("sms_consent") == "1"
               if "sms_consent_present" in request.form else None)
    form = {k: v for k, v in form.items() if not k.endswith("_present") and k != "sms_consent"}
    try:
        contacts.update_draft(db_session(), contact, user, form)
        if texting is not None:
            texts.set_referral_text_consent(db_session(), contact, user, texting, settings())
    except contacts.ContactError as exc:
        return render_template("dashboard/_save_state.html", error=str(exc)), 422
    return render_template("dashboard/_save_state.html", saved_at=utcnow())


@blueprint.post("/records/<int:contact_id>/texting-consent/withdraw")
def withdraw_texting_consent(contact_id: int) -> Response:
    """The caller no longer agrees to the referral texts a consent on file allows."""
    user = current_user()
    assert user is not None
    contact = load_visible_contact(contact_id)
    db = db_session()
    try:
        # Every live consent that covers the texts: one left on file would still send them.
        while texts.referral_text_consent(db, contact) is not None:
            texts.set_referral_text_consent(db, contact, user, False, settings())
    except contacts.ContactError as exc:
        db.rollback()  # the redirect below is a success to the transaction rule
        flash(f"Not withdrawn: {exc}.", "error")
    else:
        flash("The caller's consent to referral texts is withdrawn: no text will be sent.",
              "info")
    return redirect(url_for("dashboard.record", contact_id=contact_id) + "#texting")


def _wrap_up_refused(contact: Contact, missing: list[str],
                     error: str | None = None) -> Response | str:
    """A refused wrap-up shown next to Wrap up: the box itself for HTMX (answered 200, as htmx
    swaps no 4xx), else the record page, which lists what is missing again."""
    db_session().rollback()  # nothing of a refused wrap-up is kept
    if request.headers.get("HX-Request"):
        return render_template("dashboard/_wrap_up.html", contact=contact, c=contacts,
                               wrap_up_missing=missing, wrap_up_error=error)
    if error:
        flash(f"Not closed: {error}.", "error")
    return redirect(url_for("dashboard.record", contact_id=contact.id, wrap_up="refused")
                    + "#wrap-up-box")


def _closed(message: str) -> Response:
    flash(message, "info")
    if request.headers.get("HX-Request"):
        response = Response(status=200)
        response.headers["HX-Redirect"] = url_for("dashboard.home")
        return response
    return redirect(url_for("dashboard.home"))


@blueprint.post("/records/<int:contact_id>/wrap-up")
def wrap_up(contact_id: int) -> Response | str:
    user = current_user()
    assert user is not None
    contact = load_visible_contact(contact_id)
    try:
        contacts.wrap_up(db_session(), contact, user)
    except contacts.WrapUpRefused as exc:
        return _wrap_up_refused(contact, exc.missing)
    except contacts.ContactError as exc:
        db_session().rollback()  # the redirect below is a success to the transaction rule
        flash(f"Not wrapped up: {exc}.", "error")
        return redirect(url_for("dashboard.record", contact_id=contact_id))
    return _closed("Record closed. You are available.")


@blueprint.post("/records/<int:contact_id>/wrap-up/override")
def wrap_up_override(contact_id: int) -> Response | str:
    """Close a record with something missing, for a reason; the supervisors are alerted."""
    user = current_user()
    assert user is not None
    db = db_session()
    contact = load_visible_contact(contact_id)
    try:
        missing = contacts.wrap_up_anyway(db, contact, user, request.form.get("reason", ""))
    except contacts.ContactError as exc:
        db.rollback()
        if not contacts.can_edit_contact(user, contact):
            flash(f"Not closed: {exc}.", "error")
            return redirect(url_for("dashboard.record", contact_id=contact_id))
        needs = [contacts.WRAP_UP_NEEDS[code] for code in contacts.missing_for_wrap_up(db, contact)]
        return _wrap_up_refused(contact, needs, str(exc))
    if missing:
        return _closed("Record closed with something missing; the supervisors are alerted. "
                       "You are available.")
    return _closed("Record closed. You are available.")
