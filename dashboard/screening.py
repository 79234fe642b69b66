"""The screening panel of the record: give AUDIT-C or the single drug question, see the score
and what it suggests. An HTMX fragment (a plain form post without script)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from dashboard.access import current_user, load_visible_contact
from dashboard.blueprint import blueprint
from helpline.app.runtime import db_session
from helpline.models import Contact, User
from helpline.records import contacts, screening


def panel_context(contact: Contact, user: User) -> dict[str, object]:
    """What the screening panel needs (the record page includes it too)."""
    return {"screenings": {s.instrument: s for s in
                           screening.screenings_for(db_session(), contact)},
            "instruments": screening.INSTRUMENTS, "sexes": screening.SEXES,
            "interpretations": screening.INTERPRETATIONS,
            "screening_lang": contact.language if contact.language == "es" else "en",
            "screening_editable": contacts.can_edit_contact(user, contact)}


@blueprint.post("/records/<int:contact_id>/screenings/<instrument>")
def save_screening(contact_id: int, instrument: str) -> Response | str:
    user = current_user()
    assert user is not None
    contact = load_visible_contact(contact_id)
    db = db_session()
    error = None
    try:
        screening.save_screening(db, contact, user, instrument, request.form,
                                 sex=request.form.get("sex") or None)
    except screening.ScreeningError as exc:
        db.rollback()  # answered 200 below, which would keep a half-saved screening
        error = f"Not scored: {exc}."
    if request.headers.get("HX-Request"):
        html = render_template("dashboard/_screening_panel.html", contact=contact,
                               screening_error=error, screening_saved=instrument if not error
                               else None, **panel_context(contact, user))
        # 200 even for a refusal: HTMX swaps only successful responses in.
        return html
    if error:
        flash(error, "error")
    return redirect(url_for("dashboard.record", contact_id=contact_id) + "#screening-panel")
